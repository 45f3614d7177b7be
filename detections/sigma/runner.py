"""The Sigma pack as finding sources of the detector job, one per rule group, so instances share it.

The rules that alert on their own are grouped by their logsource category (inference, llm, pipeline),
the correlation rules form one more group. Each group is its own unit of work in the job (its own
lease and checkpoint, `source/sigma/<group>`), so several job instances run the pack in parallel and
a dead instance's group is taken over like a shard of models.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sigma.rule import SigmaRule

from detections.alerts import Finding
from detections.sigma.executor import Executor
from detections.sigma.findings import hit_finding
from mlsiem.errors import EngineError

FindingSource = Callable[[datetime, datetime], list[Finding]]


def rule_groups(executor: Executor) -> dict[str, list[str]]:
    """Group name -> ids of the rules it runs (every rule that alerts on its own is in exactly one)."""
    groups: dict[str, list[str]] = {}
    for rule in executor.selected(None):
        group = executor.pack.category(rule) if isinstance(rule, SigmaRule) else "correlations"
        groups.setdefault(group, []).append(str(rule.id))
    return dict(sorted(groups.items()))


def _source(executor: Executor, namespace: str, suppression: timedelta, rules: list[str]) -> FindingSource:
    def run(start: datetime, end: datetime) -> list[Finding]:
        result = executor.run(namespace, start, end, rules)
        if result.errors:
            # The window is not done: the job keeps its checkpoint and the next run tries it again
            # (a restarted engine answers 503 until its shards are assigned).
            name, message = next(iter(result.errors.items()))
            raise EngineError(
                f"{len(result.errors)} Sigma rule(s) failed on the window from {start.isoformat()}; "
                f"first, {name}: {message}"
            )
        return [hit_finding(hit, suppression) for hit in result.hits]

    return run


def sigma_sources(executor: Executor, namespace: str, suppression: timedelta) -> dict[str, FindingSource]:
    """The job's extra finding sources for the pack: `sigma/<group>` -> findings over a window."""
    return {
        f"sigma/{group}": _source(executor, namespace, suppression, rules)
        for group, rules in rule_groups(executor).items()
    }
