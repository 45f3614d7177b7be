"""`mlsiem setup`: install templates, lifecycle policies, data streams, the alerts alias and our indices.

Idempotent: each object carries the fingerprint of the body we would send, and an object whose stored
fingerprint matches is left alone. A changed template is updated in place, and its mappings are applied
to the live write indices so new fields work at once (if the engine refuses a mapping change, the data
stream rolls over instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlsiem.adapter import Engine
from mlsiem.ecs.fields import mapping_for
from mlsiem.errors import EngineError
from mlsiem.indices import BASELINES_INDEX, STATE_INDEX, alerts_alias, alerts_first_index, data_streams
from mlsiem.templates import (
    BASELINES_MAPPING,
    STATE_MAPPING,
    TEMPLATE_VERSION,
    SetupConfig,
    Template,
    build_templates,
    fingerprint,
    lifecycle_policies,
)


@dataclass(frozen=True)
class SetupAction:
    kind: str
    name: str
    action: str  # created | updated | unchanged | skipped | kept-newer | rolled-over

    @property
    def changed(self) -> bool:
        return self.action in ("created", "updated", "rolled-over")


def _stored_template(engine: Engine, template: Template) -> dict[str, Any] | None:
    found = engine.request(
        "GET", template.path, what=f"get {template.kind} template {template.name}", ignore=(404,)
    )
    if not found:
        return None
    key = "component_templates" if template.kind == "component" else "index_templates"
    items = found.get(key) or []
    return items[0].get(template.kind + "_template") if items else None


def _ensure_template(engine: Engine, template: Template) -> str:
    stored = _stored_template(engine, template)
    ours = template.body["_meta"]
    if stored:
        meta = stored.get("_meta") or {}
        if meta.get("mlsiem_fingerprint") == ours["mlsiem_fingerprint"]:
            return "unchanged"
        if int(meta.get("mlsiem_version", 0)) > TEMPLATE_VERSION:
            return "kept-newer"
    engine.request(
        "PUT", template.path, body=template.body, what=f"put {template.kind} template {template.name}"
    )
    return "updated" if stored else "created"


def _apply_mapping(engine: Engine, target: str, mapping: dict[str, Any], rollover: bool) -> str:
    """Bring a live index or data stream up to a changed mapping; roll over when the engine refuses."""
    body = {k: v for k, v in mapping.items() if k in ("properties", "dynamic_templates", "dynamic")}
    try:
        engine.request("PUT", f"/{target}/_mapping", body=body, what=f"update mapping of {target}")
        return "updated"
    except EngineError:
        if not rollover:
            raise
        engine.request("POST", f"/{target}/_rollover", what=f"roll over {target}")
        return "rolled-over"


def run_setup(engine: Engine, cfg: SetupConfig | None = None) -> list[SetupAction]:
    cfg = cfg or SetupConfig()
    actions: list[SetupAction] = []
    has_lifecycle = engine.has_lifecycle_management()
    for policy in lifecycle_policies(cfg):
        if has_lifecycle:
            action = engine.ensure_lifecycle_policy(policy, fingerprint(policy.model_dump(mode="json")))
        else:
            action = "skipped"  # a bare OpenSearch node without the ISM plugin (the local engine)
        actions.append(SetupAction("lifecycle policy", policy.name, action))

    changed_kinds: set[str] = set()
    for template in build_templates(cfg, engine.lifecycle_index_settings if has_lifecycle else None):
        action = _ensure_template(engine, template)
        actions.append(SetupAction(f"{template.kind} template", template.name, action))
        if action == "updated":
            changed_kinds.add(template.name)

    settings_changed = "mlsiem-settings" in changed_kinds
    for kind, stream in data_streams(cfg.namespace).items():
        if not engine.exists(f"/_data_stream/{stream}"):
            engine.request("PUT", f"/_data_stream/{stream}", what=f"create data stream {stream}")
            actions.append(SetupAction("data stream", stream, "created"))
        elif f"mlsiem-{kind}-mappings" in changed_kinds or settings_changed:
            actions.append(
                SetupAction("data stream", stream, _apply_mapping(engine, stream, mapping_for(kind), True))
            )
        else:
            actions.append(SetupAction("data stream", stream, "unchanged"))

    alias = alerts_alias(cfg.namespace)
    if not engine.exists(f"/_alias/{alias}"):
        engine.request(
            "PUT",
            f"/{alerts_first_index(cfg.namespace)}",
            body={"aliases": {alias: {"is_write_index": True}}},
            what=f"create alerts index for {alias}",
        )
        actions.append(SetupAction("alias", alias, "created"))
    elif "mlsiem-alert-mappings" in changed_kinds:
        actions.append(SetupAction("alias", alias, _apply_mapping(engine, alias, mapping_for("alert"), True)))
    else:
        actions.append(SetupAction("alias", alias, "unchanged"))

    for index, mapping in ((BASELINES_INDEX, BASELINES_MAPPING), (STATE_INDEX, STATE_MAPPING)):
        if not engine.exists(f"/{index}"):
            engine.request("PUT", f"/{index}", what=f"create index {index}")
            actions.append(SetupAction("index", index, "created"))
        elif index in changed_kinds:
            actions.append(SetupAction("index", index, _apply_mapping(engine, index, mapping, False)))
        else:
            actions.append(SetupAction("index", index, "unchanged"))
    return actions
