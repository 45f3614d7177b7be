"""The one command line, `mlsiem`. Each subcommand group lives in a module of its own.

Subcommands load lazily: `mlsiem ship` imports the shipper, not the statistics, the Sigma pack or the
dashboards, so a command starts fast and the shipper's memory stays its own.
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import click
import typer
from typer.core import TyperGroup

import mlsiem
from mlsiem.errors import ConfigError, MlsiemError

# name -> (module, attribute): a typer sub-app or a command function. Listed in the order of --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "engine": ("cli.engine_cmd", "app"),
    "setup": ("cli.setup_cmd", "setup"),
    "normalize": ("cli.normalize_cmd", "normalize"),
    "ship": ("cli.ship_cmd", "ship"),
    "baseline": ("cli.detect_cmd", "baseline_app"),
    "detect": ("cli.detect_cmd", "detect"),
    "drift": ("cli.drift_cmd", "drift"),
    "gate": ("cli.drift_cmd", "gate"),
    "rules": ("cli.rules_cmd", "app"),
    "dashboards": ("cli.dashboards_cmd", "app"),
    "demo": ("cli.demo_cmd", "demo"),
}


class LazyCommands(TyperGroup):
    """Imports a subcommand's module only when that subcommand (or the full help) is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name]
        target = getattr(importlib.import_module(module), attribute)
        if isinstance(target, typer.Typer):
            command = typer.main.get_group(target)  # a group even when it has one subcommand
        else:
            single = typer.Typer()
            single.command(name)(target)
            command = typer.main.get_command(single)
        command.name = name
        return command


app = typer.Typer(
    name="mlsiem",
    cls=LazyCommands,
    help="SIEM integration for AI systems: ship ML/LLM telemetry as ECS, detect drift and attacks, alert.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        print(f"mlsiem {mlsiem.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """SIEM integration for AI systems: ship ML/LLM telemetry as ECS, detect drift and attacks, alert."""


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
