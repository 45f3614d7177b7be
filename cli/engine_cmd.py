"""`mlsiem engine start|stop|status`: the local OpenSearch engine for development, tests and the demo."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import JsonOption, console, print_json
from mlsiem.errors import ConfigError
from mlsiem.local_engine import EngineStatus, LocalEngine

app = typer.Typer(help="Run a real local OpenSearch 2.19 engine in a JVM (no Docker).", no_args_is_help=True)

PortOption = Annotated[int, typer.Option("--port", help="HTTP port of the first node (transport: port+100).")]


def _settings(pairs: list[str]) -> dict[str, str]:
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--setting {pair!r} is not of the form key=value")
        settings[key.strip()] = value.strip()
    return settings


def _report(status: EngineStatus, as_json: bool) -> None:
    if as_json:
        print_json(status.as_dict())
        return
    if not status.running:
        console.print(f"local engine at {status.url}: [bold]not running[/]")
        return
    alive = [n for n in status.nodes if n.alive]
    rss = sum(n.rss_mb or 0 for n in alive)
    took = f", started in {status.start_seconds:.1f} s" if status.start_seconds else ""
    console.print(
        f"OpenSearch {status.version} running at {status.url} "
        f"({len(alive)} node{'s' if len(alive) != 1 else ''}, cluster {status.cluster_status}, "
        f"{rss:.0f} MB resident{took})"
    )


@app.command()
def start(
    port: PortOption = 9200,
    nodes: Annotated[int, typer.Option("--nodes", help="Nodes in the cluster (one JVM each).")] = 1,
    heap: Annotated[str, typer.Option("--heap", help="JVM heap per node, e.g. 512m or 2g.")] = "1g",
    setting: Annotated[
        list[str], typer.Option("--setting", "-E", help="Extra node setting key=value (repeatable).")
    ] = [],  # noqa: B006 (typer reads the default, never mutates it)
    as_json: JsonOption = False,
) -> None:
    """Start the engine in the background (a no-op if it already runs) and wait until it answers."""
    engine = LocalEngine(port=port, nodes=nodes, heap=heap, settings=_settings(setting))
    if not as_json and not engine.status().running:
        console.print(
            f"starting the local engine on port {port} (the first start resolves the jars with Maven)..."
        )
    _report(engine.start(), as_json)


@app.command()
def stop(
    port: PortOption = 9200,
    node: Annotated[int | None, typer.Option("--node", help="Stop only this node (0-based).")] = None,
) -> None:
    """Stop the engine cleanly."""
    if LocalEngine(port=port).stop(node=node):
        console.print(
            f"stopped the local engine on port {port}" + (f" (node {node})" if node is not None else "")
        )
    else:
        console.print(f"no local engine was running on port {port}")


@app.command()
def status(port: PortOption = 9200, as_json: JsonOption = False) -> None:
    """Report whether the engine runs, its version, health and memory. Exit 1 when it is not running."""
    result = LocalEngine(port=port).status()
    _report(result, as_json)
    if not result.running:
        raise typer.Exit(1)
