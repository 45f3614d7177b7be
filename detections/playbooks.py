"""Investigation guides of the detector job's own rules (drift, data quality, performance, operations).

One Markdown file per rule id in `detections/playbooks/`, kept as data beside the code: what the alert
means, what to check first (with the exact pivot queries), likely benign causes and containment. The
alert writer copies it into `mlsiem.alert.playbook`; the Sigma pack keeps its own in `sigma_rules/playbooks/`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

PLAYBOOKS_DIR = Path(__file__).resolve().parent / "playbooks"
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")  # detector rule ids; anything else has no file


@cache
def playbook(rule_id: str) -> str | None:
    """The playbook of a detector rule, or None (unknown id, or no playbook written)."""
    if not _RULE_ID.match(rule_id):
        return None
    path = PLAYBOOKS_DIR / f"{rule_id}.md"
    return path.read_text(encoding="utf-8") if path.is_file() else None


def missing_playbooks(rule_ids: Iterable[str]) -> list[str]:
    """The rule ids without a playbook."""
    return [rule_id for rule_id in rule_ids if playbook(rule_id) is None]
