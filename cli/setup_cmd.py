"""`mlsiem setup`: templates, data streams, alias, lifecycle policies. Safe to run again and again."""

from __future__ import annotations

from typing import Annotated

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
from cli.dashboards_cmd import dashboards_settings, print_report
from dashboards.importer import import_saved_objects, saved_object_files
from dashboards.spec import Flavor
from mlsiem.adapter import EngineKind
from mlsiem.installer import SetupAction, run_setup
from mlsiem.templates import SetupConfig


def setup(
    url: UrlOption = None,
    engine: EngineOption = None,
    insecure: InsecureOption = False,
    namespace: Annotated[str, typer.Option("--namespace", help="Data stream namespace.")] = "default",
    dashboards: Annotated[
        str | None,
        typer.Option(
            "--dashboards",
            help="Also import the dashboards into Kibana / OpenSearch Dashboards at this URL "
            "(replaces mlsiem's own saved objects; the flavor follows the engine).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Install or update everything mlsiem writes into (idempotent)."""
    config = SetupConfig(namespace=namespace)  # bad input is reported before any connection is made
    board_settings = dashboards_settings(dashboards, insecure=insecure, warn=False) if dashboards else None
    target = connect(url, engine, insecure)
    actions = run_setup(target, config)
    if not as_json:
        _print_actions(target.description, actions)
    report = None
    if board_settings:
        flavor: Flavor = "kibana" if target.kind is EngineKind.ELASTICSEARCH else "opensearch"
        report = import_saved_objects(board_settings, flavor, saved_object_files(flavor), overwrite=True)
    if as_json:
        result = {"engine": target.description, "actions": [vars(a) for a in actions]}
        if report:
            result["dashboards"] = report.as_dict()
        print_json(result)
    elif report:
        print_report(report)
    if report and not report.ok:
        raise typer.Exit(1)


def _print_actions(description: str, actions: list[SetupAction]) -> None:
    table = Table(title=f"mlsiem setup on {description}")
    for column in ("object", "name", "result"):
        table.add_column(column)
    for action in actions:
        style = "green" if action.changed else "dim"
        table.add_row(action.kind, action.name, f"[{style}]{action.action}[/]")
    console.print(table)
    changed = sum(a.changed for a in actions)
    console.print(f"{changed} changed, {len(actions) - changed} already up to date")
