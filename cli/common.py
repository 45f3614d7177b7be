"""Options and helpers that several subcommands share (engine connection, output)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console

from mlsiem.adapter import Engine
from mlsiem.config import ConnectionSettings, load_settings

console = Console()
err_console = Console(stderr=True)

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url", help="Engine URL (default: $MLSIEM_URL, else the local engine http://127.0.0.1:9200)."
    ),
]
EngineOption = Annotated[
    str | None,
    typer.Option("--engine", help="opensearch | elasticsearch (default: detect)."),
]
InsecureOption = Annotated[
    bool,
    typer.Option("--insecure", help="Do not verify the engine's TLS certificate (explicit; warns)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of text.")]


def connection_settings(url: str | None, engine: str | None, insecure: bool) -> ConnectionSettings:
    """Settings with credentials from the environment (MLSIEM_API_KEY, MLSIEM_USERNAME/PASSWORD, ...)."""
    settings = load_settings(url=url, engine=engine, insecure=insecure)  # type: ignore[arg-type]
    if insecure:
        err_console.print("[yellow]warning:[/] TLS certificate verification is off (--insecure)")
    return settings


def connect(url: str | None, engine: str | None, insecure: bool) -> Engine:
    """Connect with credentials from the environment (MLSIEM_API_KEY, MLSIEM_USERNAME/PASSWORD, ...)."""
    return Engine.connect(connection_settings(url, engine, insecure))


def print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, default=str))
