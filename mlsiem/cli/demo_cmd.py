"""`mlsiem demo`: the main job on the local engine.

For now it brings up the local engine, installs the templates and shows what is there; the full story
(telemetry, shipping, detection, scorecard) grows here as those parts land.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mlsiem.cli.common import JsonOption, UrlOption, connect, console, print_json
from mlsiem.installer import run_setup
from mlsiem.local_engine import LocalEngine


def demo(
    url: UrlOption = None,
    port: Annotated[
        int, typer.Option("--port", help="Port of the local engine when no --url is given.")
    ] = 9200,
    as_json: JsonOption = False,
) -> None:
    """Start the local engine (unless --url), set it up and report its state."""
    started = None
    if url is None:
        local = LocalEngine(port=port)
        if not as_json:
            console.print(f"local engine: starting on port {port} if needed...")
        started = local.start()
        url = local.url
    engine = connect(url, None, False)
    actions = run_setup(engine)
    templates = engine.request("GET", "/_index_template/*mlsiem*", what="list templates")["index_templates"]
    streams = engine.request("GET", "/_data_stream/*mlsiem*", what="list data streams")["data_streams"]
    report = {
        "engine": engine.description,
        "local_engine": started.as_dict() if started else None,
        "setup_changed": sum(a.changed for a in actions),
        "index_templates": sorted(t["name"] for t in templates),
        "data_streams": sorted(s["name"] for s in streams),
    }
    if as_json:
        print_json(report)
        return
    console.print(f"[bold green]{engine.description}[/]")
    if started:
        alive = [n for n in started.nodes if n.alive]
        console.print(
            f"  cluster {started.cluster_status}, {sum(n.rss_mb or 0 for n in alive):.0f} MB resident"
        )
    console.print(f"  setup: {report['setup_changed']} objects created or updated")
    console.print("  index templates: " + ", ".join(report["index_templates"]))
    console.print("  data streams:    " + ", ".join(report["data_streams"]))
    console.print("stop the engine with `mlsiem engine stop`")
