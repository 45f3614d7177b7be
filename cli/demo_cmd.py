"""`mlsiem demo`: the whole story on the local engine (or --url), with a detection scorecard."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.markdown import Markdown
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.common import JsonOption, UrlOption, connect, console, print_json
from demo.story import DemoResult, run_demo
from mlsiem.adapter import Engine
from mlsiem.local_engine import LocalEngine


def demo(
    url: UrlOption = None,
    port: Annotated[
        int, typer.Option("--port", help="Port of the local engine when no --url is given.")
    ] = 9200,
    hours: Annotated[float, typer.Option("--hours", help="Length of the simulated timeline.")] = 6.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the telemetry generator.")] = 7,
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave the engine and the data up for exploring.")
    ] = False,
    namespace: Annotated[str, typer.Option("--namespace", help="Namespace of the demo's data.")] = "demo",
    playbooks: Annotated[
        bool, typer.Option("--playbooks", help="Show each alert's playbook (investigation guide).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Generate telemetry with injected incidents, ship it, detect, and score the detections."""
    local = None
    if url is None:
        local = LocalEngine(port=port)
        started_here = not local.status().running
        if not as_json:
            console.print(
                f"local engine on port {port}: " + ("starting..." if started_here else "already running")
            )
        local.start()
        url = local.url
    else:
        started_here = False
    engine = connect(url, None, False)
    # The timeline ends at the last full hour, so the dashboards' "last 24 hours" show it.
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours)
    try:
        with tempfile.TemporaryDirectory(prefix="mlsiem-demo-") as tmp:
            if as_json:
                result = run_demo(engine, Path(tmp), hours, seed, namespace, start)
            else:
                result = _with_progress(engine, Path(tmp), hours, seed, namespace, start)
    finally:
        if local is not None and started_here and not keep:
            local.stop()
    if as_json:
        print_json(result.as_dict())
        return
    _print(result, keep or not started_here, url, playbooks)


def _with_progress(
    engine: Engine, work: Path, hours: float, seed: int, namespace: str, start: datetime
) -> DemoResult:
    columns = (TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bars:
        tasks: dict[str, int] = {}

        def update(stage: str, done: float, total: float) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total)
            bars.update(tasks[stage], completed=done, total=total)

        return run_demo(engine, work, hours, seed, namespace, start, update)


def _print(result: DemoResult, kept: bool, url: str, playbooks: bool = False) -> None:
    card = result.scorecard
    table = Table(title=f"alerts ({len(result.alerts)})", show_lines=playbooks)
    for column in ("time", "sev", "rule", "model / group", "reason", *(["playbook"] if playbooks else [])):
        table.add_column(column, overflow="fold")
    for alert, document in zip(result.as_dict()["alerts"], result.alerts, strict=True):
        who = alert["model"] or (alert["group"] or "")[:40]
        row = [alert["time"][11:16], alert["severity"], alert["rule"], who, alert["reason"]]
        if playbooks:
            row.append(Markdown(document.get("mlsiem", {}).get("alert", {}).get("playbook") or "(none)"))
        table.add_row(*row)
    console.print(table)
    score = Table(title="scorecard: injected incidents")
    for column in ("incident", "category", "detected", "by", "time to detect"):
        score.add_column(column, overflow="fold")
    for row in card["incidents"]:
        took = (
            f"{row['time_to_detect_minutes']:.0f} min" if row["time_to_detect_minutes"] is not None else "-"
        )
        mark = "[green]yes[/]" if row["detected"] else "[red]MISSED[/]"
        score.add_row(row["title"], row["category"], mark, ", ".join(row["by"]), took)
    console.print(score)
    console.print(
        f"detected {card['detected']} of {card['detected'] + card['missed']} incidents "
        f"(recall {card['recall']}), precision {card['precision']}, "
        f"{card['false_alerts_in_control']} false alert(s) in the clean control period; "
        f"shipped {result.shipped['shipped']} events; took "
        + ", ".join(f"{k} {v:.0f}s" for k, v in result.timings.items())
    )
    console.print("\nwhere to look next:")
    console.print(
        f"  alerts:   GET {url}/{'mlsiem-alerts-' + result.namespace}/_search  (every alert carries "
        "mlsiem.evidence.query: paste it into Discover to see the events behind it)"
    )
    console.print(
        "  dashboards: docker compose --profile opensearch up -d, then http://127.0.0.1:5601 "
        "(see README, 'Dashboards and the docker-compose stack')"
    )
    if kept:
        console.print(f"  the engine stays up at {url}; stop it with `mlsiem engine stop`")
