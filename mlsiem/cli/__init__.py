"""The one command line, `mlsiem`. Each subcommand group lives in a module of its own."""

from __future__ import annotations

import sys

import typer

from mlsiem.cli import (
    dashboards_cmd,
    demo_cmd,
    engine_cmd,
    normalize_cmd,
    rules_cmd,
    setup_cmd,
    ship_cmd,
)
from mlsiem.errors import ConfigError, MlsiemError

app = typer.Typer(
    name="mlsiem",
    help="SIEM integration for AI systems: ship ML/LLM telemetry as ECS, detect drift and attacks, alert.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(engine_cmd.app, name="engine")
app.command("setup")(setup_cmd.setup)
app.command("normalize")(normalize_cmd.normalize)
app.command("ship")(ship_cmd.ship)
app.command("demo")(demo_cmd.demo)
app.add_typer(dashboards_cmd.app, name="dashboards")
app.add_typer(rules_cmd.app, name="rules")


def main() -> None:
    """Entry point: user-facing errors are one clear line on stderr, not a traceback."""
    try:
        app()
    except ConfigError as exc:
        print(f"mlsiem: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except MlsiemError as exc:
        print(f"mlsiem: error: {exc}", file=sys.stderr)
        sys.exit(1)
