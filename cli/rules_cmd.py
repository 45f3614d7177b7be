"""`mlsiem rules check|convert|test|export`: the Sigma rule pack for attacks on AI systems (MITRE ATLAS)."""

from __future__ import annotations

import json
import sys
import uuid
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cli.common import (
    EngineOption,
    InsecureOption,
    JsonOption,
    UrlOption,
    connect,
    console,
    print_json,
)
from mlsiem.errors import ConfigError

app = typer.Typer(
    help="The Sigma rule pack (MITRE ATLAS): validate, convert, test on an engine, export for SIEMs.",
    no_args_is_help=True,
)

PackOption = Annotated[
    Path | None, typer.Option("--pack", help="Rule pack folder (default: the bundled sigma_rules pack).")
]
RulesDirOption = Annotated[
    list[Path] | None,
    typer.Option("--rules", help="A folder of your own Sigma rules to add to the pack; repeat for more."),
]
RuleOption = Annotated[
    list[str] | None, typer.Option("--rule", help="Only this rule (name or id); repeat for more.")
]


class ExportTarget(StrEnum):
    KIBANA = "kibana"
    OPENSEARCH_MONITORS = "opensearch-monitors"
    OPENSEARCH_SECURITY_ANALYTICS = "opensearch-security-analytics"
    DOCS = "docs"


def _pack(path: Path | None, extra: list[Path] | None = None) -> Any:
    from detections.sigma.pack import PACK_ROOT, load_pack

    return load_pack(path or PACK_ROOT, extra or [])


@app.command("check")
def check(pack_dir: PackOption = None, rule_dirs: RulesDirOption = None, as_json: JsonOption = False) -> None:
    """Validate the pack: pySigma's validators (as `sigma check`) plus mlsiem's own checks; every rule of the
    pack and of the detector job needs a playbook."""
    from detections.detectors import all_rules
    from detections.playbooks import PLAYBOOKS_DIR, missing_playbooks
    from detections.sigma.checks import Issue, check_pack
    from detections.sigma.docs_table import DOCS_FILE, docs_current
    from detections.sigma.pack import PACK_ROOT

    pack = _pack(pack_dir, rule_dirs)
    issues = check_pack(pack)
    bundled = pack.root.resolve() == PACK_ROOT.resolve()
    # docs: in a checkout only, and for the pack alone
    if DOCS_FILE is not None and bundled and not rule_dirs and not docs_current(pack, DOCS_FILE):
        issues.append(
            Issue("docs", "docs", f"{DOCS_FILE} is out of date: run `mlsiem rules export --target docs`")
        )
    for rule_id in missing_playbooks(r.id for r in all_rules()):
        where = PLAYBOOKS_DIR / f"{rule_id}.md"
        issues.append(Issue(rule_id, "playbook", f"no investigation guide: write {where}"))
    summary = {
        "pack": str(pack.root),
        "detection_rules": len(pack.detections),
        "correlation_rules": len(pack.correlations),
        "atlas_release": pack.atlas.release,
        "issues": [vars(i) for i in issues],
    }
    if as_json:
        print_json(summary)
    else:
        for issue in issues:
            console.print(f"[red]issue[/] {issue}", markup=True, highlight=False)
        console.print(
            f"{len(pack.detections)} detection rules, {len(pack.correlations)} correlation rules, "
            f"ATLAS {pack.atlas.release}: {len(issues)} issue{'s' if len(issues) != 1 else ''}"
        )
    if issues:
        raise typer.Exit(1)


@app.command("convert")
def convert(
    target: Annotated[
        str, typer.Option("--target", "-t", help="pySigma backend, e.g. opensearch_lucene, esql.")
    ],
    output_format: Annotated[str, typer.Option("--format", "-f", help="Backend output format.")] = "default",
    rules: RuleOption = None,
    pack_dir: PackOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Convert the pack (through its processing pipeline) with any installed pySigma backend."""
    from detections.sigma.convert import convert_pack

    pack = _pack(pack_dir)
    wanted = {str(pack.rule(r).id) for r in rules} if rules else None
    conversion = convert_pack(pack, target, output_format, rule_ids=wanted)
    chunks = []
    for rid, results in conversion.results.items():
        rule = pack.rule(rid)
        for result in results:
            text = result if isinstance(result, str) else json.dumps(result, indent=2, ensure_ascii=False)
            chunks.append(f"# {rule.name} ({rid})\n{text}\n")
    text = "\n".join(chunks)
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    for rid, error in conversion.errors.items():
        print(f"mlsiem: {pack.rule(rid).name}: not converted: {error}", file=sys.stderr)
    if wanted and any(rid in conversion.errors for rid in wanted):
        raise typer.Exit(1)


@app.command("test")
def test(
    url: UrlOption = None,
    engine: EngineOption = None,
    insecure: InsecureOption = False,
    rules: RuleOption = None,
    pack_dir: PackOption = None,
    rule_dirs: RulesDirOption = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the test namespace's data afterwards.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Index every rule's example events into a scratch namespace and check exactly the positives match.

    With --rules DIR: your rules that have example events (DIR/tests/<rule name>.yaml), unless --rule
    names others."""
    from detections.sigma.executor import Executor
    from detections.sigma.rule_tests import index_examples, run_rule_tests
    from mlsiem.installer import run_setup
    from mlsiem.templates import SetupConfig

    pack = _pack(pack_dir, rule_dirs)
    if rule_dirs and not rules:
        rules = [str(r.id) for r in pack.rules if pack.extra_root(r) and pack.examples_path(r).exists()]
        if not rules:
            raise ConfigError("none of the rules in --rules has example events (DIR/tests/<rule name>.yaml)")
    target = connect(url, engine, insecure)
    namespace = f"rulestest_{uuid.uuid4().hex[:10]}"
    run_setup(target, SetupConfig(namespace=namespace))
    try:
        executor = Executor(target, pack)
        plan = index_examples(target, pack, namespace, rules)
        results = run_rule_tests(target, executor, plan, rules)
    finally:
        if not keep:
            _drop_namespace(target, namespace)
    failed = [r for r in results if not r.ok]
    if as_json:
        print_json(
            {
                "engine": target.description,
                "namespace": namespace,
                "documents": plan.documents,
                "results": [{**vars(r), "ok": r.ok} for r in results],
            }
        )
    else:
        table = Table("rule", "kind", "checked", "result")
        for r in results:
            table.add_row(
                r.rule, r.kind, str(r.checked), "ok" if r.ok else "[red]" + "; ".join(r.problems) + "[/]"
            )
        console.print(table)
        console.print(f"{len(results) - len(failed)} passed, {len(failed)} failed on {target.description}")
    if failed:
        raise typer.Exit(1)


def _drop_namespace(target: Any, namespace: str) -> None:
    from mlsiem.indices import alerts_alias, alerts_first_index, data_streams

    for stream in data_streams(namespace).values():
        target.request("DELETE", f"/_data_stream/{stream}", what=f"delete {stream}", ignore=(404,))
    target.request(
        "DELETE", f"/{alerts_first_index(namespace)}", what=f"delete {alerts_alias(namespace)}", ignore=(404,)
    )


@app.command("export")
def export(
    target_name: Annotated[ExportTarget, typer.Option("--target", "-t", help="What to export.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="kibana: the NDJSON file (default mlsiem-rules.ndjson); opensearch-*: a folder; "
            "docs: the Markdown file.",
        ),
    ] = None,
    url: UrlOption = None,
    engine: EngineOption = None,
    insecure: InsecureOption = False,
    pack_dir: PackOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export for a SIEM: Kibana detection rules, OpenSearch monitors, Security Analytics, or the docs table.

    opensearch-security-analytics sends its requests to the engine (--url) unless --output names a folder
    to write them to.
    """
    pack = _pack(pack_dir)
    report: dict[str, Any] = {"target": target_name.value}
    if target_name is ExportTarget.KIBANA:
        from detections.sigma.export_kibana import kibana_ndjson

        path = output or Path("mlsiem-rules.ndjson")
        text = kibana_ndjson(pack)
        path.write_text(text, encoding="utf-8")
        report.update(file=str(path), rules=text.count("\n"))
    elif target_name is ExportTarget.OPENSEARCH_MONITORS:
        from detections.sigma.export_opensearch import write_monitors

        if output is None:
            raise ConfigError("--output FOLDER is required for opensearch-monitors")
        files = write_monitors(pack, output)
        report.update(folder=str(output), monitors=len(files))
    elif target_name is ExportTarget.OPENSEARCH_SECURITY_ANALYTICS:
        from detections.sigma.export_opensearch import (
            security_analytics_requests,
            send_requests,
            write_requests,
        )

        requests = security_analytics_requests(pack)
        if output is not None:
            files = write_requests(requests, output)
            report.update(folder=str(output), requests=len(requests), files=len(files))
        else:
            target = connect(url, engine, insecure)
            sent = send_requests(target, requests)
            failed = [s for s in sent if s.outcome == "failed"]
            report.update(
                engine=target.description,
                requests=[
                    {
                        "title": s.request.title,
                        "outcome": s.outcome,
                        **({"error": s.error} if s.error else {}),
                    }
                    for s in sent
                ],
                failed=len(failed),
            )
            if failed and len(failed) == len(sent):
                report["hint"] = "every request failed: is the Security Analytics plugin installed?"
    else:
        from detections.sigma.docs_table import DOCS_FILE, update_docs

        path = output or DOCS_FILE
        if path is None:
            raise ConfigError(
                "--target docs: no docs/sigma.md outside a source checkout; name a file with --output"
            )
        report.update(file=str(path), changed=update_docs(pack, path))
    if as_json:
        print_json(report)
    else:
        console.print(", ".join(f"{k}: {v}" for k, v in report.items() if k != "requests"))
        for item in report.get("requests", []) if isinstance(report.get("requests"), list) else []:
            error = f": {item['error']}" if item.get("error") else ""
            console.print(f"  {item['outcome']:8} {item['title']}{error}", markup=False, highlight=False)
    if report.get("failed"):
        raise typer.Exit(1)
