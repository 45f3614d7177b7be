"""`mlsiem dashboards`: check the bundled dashboards; import them into Kibana or OpenSearch Dashboards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.common import InsecureOption, JsonOption, console, err_console, print_json
from dashboards.importer import ImportReport, import_saved_objects, merged_payload, saved_object_files
from dashboards.render import stale_files
from dashboards.spec import DASHBOARDS_DIR, FLAVORS, Flavor, load_spec
from mlsiem.config import ConnectionSettings, load_settings
from mlsiem.errors import ConfigError

app = typer.Typer(
    help="Kibana and OpenSearch Dashboards saved objects (data views, dashboards).", no_args_is_help=True
)

DashboardsUrlOption = Annotated[
    str,
    typer.Option(
        "--url",
        envvar="MLSIEM_DASHBOARDS_URL",
        help="Kibana / OpenSearch Dashboards URL, e.g. http://127.0.0.1:5601 (or $MLSIEM_DASHBOARDS_URL).",
    ),
]


def dashboards_settings(url: str, insecure: bool, warn: bool = True) -> ConnectionSettings:
    """Credentials and TLS from the MLSIEM_* environment, as for the engine, for the dashboards URL."""
    try:
        settings = load_settings(url=url, insecure=insecure)
    except ConfigError as exc:  # the shared loader speaks of the engine; this URL is the dashboards app's
        message = str(exc).replace("engine connection", "dashboards connection", 1)
        raise ConfigError(message) from None
    if insecure and warn:
        err_console.print("[yellow]warning:[/] TLS certificate verification is off (--insecure)")
    return settings


def print_report(report: ImportReport) -> None:
    """One row per saved object: what it is and what became of it."""
    where = f"{report.url} (space {report.space})" if report.space else report.url
    table = Table(title=f"dashboards import into {report.flavor} at {where}")
    for column in ("type", "id", "title", "result"):
        table.add_column(column)
    for item in report.objects:
        result = f"[red]error:[/] {item.error}" if item.outcome == "error" else f"[green]{item.outcome}[/]"
        table.add_row(item.type, item.id, item.title, result)
    console.print(table)
    failed = sum(o.outcome == "error" for o in report.objects)
    console.print(f"{len(report.objects) - failed} imported, {failed} failed")


def import_command(
    url: DashboardsUrlOption,
    flavor: Annotated[Flavor, typer.Option("--flavor", help="kibana | opensearch")],
    space: Annotated[
        str | None, typer.Option("--space", help="Kibana space (default: the default space).")
    ] = None,
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="OpenSearch Dashboards tenant (security plugin).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace saved objects that already exist (same ids).")
    ] = False,
    dashboard: Annotated[
        list[str] | None,
        typer.Option("--dashboard", help="Only this file, e.g. mlsiem-drift (repeatable; default: all)."),
    ] = None,
    insecure: InsecureOption = False,
    as_json: JsonOption = False,
) -> None:
    """Import the bundled dashboards through the saved-objects import API (exit 1 if any object fails)."""
    settings = dashboards_settings(url, insecure)
    files = saved_object_files(flavor, dashboard)
    report = import_saved_objects(settings, flavor, files, space=space, tenant=tenant, overwrite=overwrite)
    if as_json:
        print_json(report.as_dict())
    else:
        print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def list_command(
    flavor: Annotated[
        Flavor | None, typer.Option("--flavor", help="kibana | opensearch (default: both).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the bundled dashboards; exit 1 when a file does not parse or differs from the spec."""
    stale = set(stale_files(load_spec()))
    rows = []
    for each in [flavor] if flavor else FLAVORS:
        for path in saved_object_files(each):
            _, objects = merged_payload([path])  # a line that is no saved object is a ConfigError
            titles = [
                o.get("attributes", {}).get("title", o["id"]) for o in objects if o["type"] == "dashboard"
            ]
            rows.append(
                {
                    "flavor": each,
                    "file": str(path),
                    "dashboards": titles,
                    "objects": len(objects),
                    "current": path not in stale,
                }
            )
    if as_json:
        print_json({"files": rows, "ok": all(r["current"] for r in rows) and not stale})
    else:
        table = Table(title=f"bundled dashboards in {DASHBOARDS_DIR}")
        for column in ("flavor", "file", "dashboards", "objects", "matches spec"):
            table.add_column(column)
        for row in rows:
            current = "[green]yes[/]" if row["current"] else "[red]no[/]"
            table.add_row(
                row["flavor"],
                Path(row["file"]).name,
                ", ".join(row["dashboards"]),
                str(row["objects"]),
                current,
            )
        console.print(table)
        for path in sorted(stale - {Path(r["file"]) for r in rows}):
            console.print(f"[red]missing or left over:[/] {path}")
    if stale:
        raise typer.Exit(1)


app.command("list")(list_command)
app.command("import")(import_command)
