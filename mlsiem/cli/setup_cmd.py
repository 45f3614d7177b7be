"""`mlsiem setup`: templates, data streams, alias, lifecycle policies. Safe to run again and again."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from mlsiem.cli.common import (
    EngineOption,
    InsecureOption,
    JsonOption,
    UrlOption,
    connect,
    console,
    print_json,
)
from mlsiem.installer import run_setup
from mlsiem.templates import SetupConfig


def setup(
    url: UrlOption = None,
    engine: EngineOption = None,
    insecure: InsecureOption = False,
    namespace: Annotated[str, typer.Option("--namespace", help="Data stream namespace.")] = "default",
    as_json: JsonOption = False,
) -> None:
    """Install or update everything mlsiem writes into (idempotent)."""
    config = SetupConfig(namespace=namespace)  # bad input is reported before any connection is made
    target = connect(url, engine, insecure)
    actions = run_setup(target, config)
    if as_json:
        print_json({"engine": target.description, "actions": [vars(a) for a in actions]})
        return
    table = Table(title=f"mlsiem setup on {target.description}")
    for column in ("object", "name", "result"):
        table.add_column(column)
    for action in actions:
        style = "green" if action.changed else "dim"
        table.add_row(action.kind, action.name, f"[{style}]{action.action}[/]")
    console.print(table)
    changed = sum(a.changed for a in actions)
    console.print(f"{changed} changed, {len(actions) - changed} already up to date")
