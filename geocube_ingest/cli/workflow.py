"""Monitoring and operating the workflow: aois, status, scenes, tiles, retry, fail, force, dot, delete."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from geocube_ingest.cli.common import console, print_json, workflow
from geocube_ingest.errors import InvalidInput
from geocube_ingest.status import Status
from geocube_ingest.workflow.models import Kind
from geocube_ingest.workflow.serialize import aoi_json, scene_json, tile_json


class Target(StrEnum):
    scene = "scene"
    tile = "tile"
    aoi = "aoi"


DatabaseOpt = Annotated[
    str | None, typer.Option("--database", "-d", help="Workflow database URL (default: settings).", show_default=False)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (the REST API's shapes) instead of a table.")]
StatusOpt = Annotated[
    str | None, typer.Option("--status", "-s", help="Only this status (NEW, PENDING, DONE, RETRY, FAILED).")
]
PageOpt = Annotated[int | None, typer.Option("--page", min=0, help="0-based page (needs --limit).")]
LimitOpt = Annotated[int | None, typer.Option("--limit", min=1, help="Rows per page.")]

STYLE = {
    Status.NEW: "grey62",
    Status.PENDING: "blue",
    Status.RETRY: "dark_orange",
    Status.DONE: "green",
    Status.FAILED: "red",
}


def _status_text(status: Status | None) -> str:
    """An empty AOI is NEW, as upstream lists it."""
    status = status or Status.NEW
    return f"[{STYLE[status]}]{status.value}[/]"


def _parse_status(value: str | None) -> Status | None:
    if value is None:
        return None
    try:
        return Status.parse(value)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def aois(
    pattern: Annotated[str, typer.Argument(help="Name pattern with * and ?.")] = "*",
    database: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the AOIs with their status and counts (`--json`: GET /aoi/?details=true, upstream's ID and status)."""
    infos = workflow(database).list_aois(pattern)
    if as_json:
        print_json([aoi_json(i, details=True) for i in infos])
        return
    table = Table("ID", "status", "scenes", "tiles", "done", "retry", "failed", box=None)
    for i in infos:
        table.add_row(
            i.name,
            _status_text(i.status),
            str(i.scenes.total),
            str(i.tiles.total),
            str(i.tiles.done),
            str(i.tiles.retry + i.scenes.retry),
            str(i.tiles.failed + i.scenes.failed),
        )
    console.print(table if infos else "[dim]no AOI[/]")


def status(aoi: Annotated[str, typer.Argument(help="AOI name.")], database: DatabaseOpt = None) -> None:
    """The AOI summary (the same text as GET /aoi/{aoi})."""
    print(workflow(database).summary_text(aoi), end="")


def scenes(
    aoi: Annotated[str, typer.Argument(help="AOI name.")],
    status: StatusOpt = None,
    database: DatabaseOpt = None,
    page: PageOpt = None,
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the scenes of an AOI."""
    found = workflow(database).scenes(aoi, _parse_status(status), page=page, limit=limit)
    if as_json:
        print_json([scene_json(s) for s in found])
        return
    table = Table("id", "scene", "date", "status", "message", box=None)
    for s in found:
        date = s.date.strftime("%Y-%m-%d %H:%M") if s.date else ""
        table.add_row(str(s.id), s.source_id, date, _status_text(s.status), s.message)
    console.print(table if found else "[dim]no scene[/]")


def tiles(
    aoi: Annotated[str, typer.Argument(help="AOI name.")],
    status: StatusOpt = None,
    scene: Annotated[int | None, typer.Option("--scene", help="Only the tiles of this scene id.")] = None,
    database: DatabaseOpt = None,
    page: PageOpt = None,
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the tiles of an AOI."""
    wf = workflow(database)
    if scene is not None and wf.scene(scene).aoi != aoi:
        raise InvalidInput(f"scene {scene} is not in AOI {aoi!r}")
    found = wf.tiles(aoi, _parse_status(status), scene_id=scene, page=page, limit=limit)
    if as_json:
        print_json([tile_json(t) for t in found])
        return
    table = Table("id", "scene", "tile", "date", "status", "prev", "ref", "message", box=None)
    for t in found:
        date = t.date.strftime("%Y-%m-%d") if t.date else ""
        table.add_row(
            str(t.id),
            t.scene_source_id,
            t.source_id,
            date,
            _status_text(t.status),
            str(t.previous_id or ""),
            str(t.reference_id or ""),
            t.message,
        )
    console.print(table if found else "[dim]no tile[/]")


def _kind(target: Target) -> Kind:
    if target == Target.aoi:
        raise InvalidInput("use a scene or tile id here")
    return "scene" if target == Target.scene else "tile"


def retry(
    target: Annotated[Target, typer.Argument(help="scene, tile or aoi.")],
    ident: Annotated[str, typer.Argument(metavar="ID", help="Scene/tile id, or AOI name.")],
    force: Annotated[bool, typer.Option("--force", help="AOI only: also re-dispatch PENDING work.")] = False,
    database: DatabaseOpt = None,
) -> None:
    """Retry a RETRY scene/tile, or every RETRY scene and tile of an AOI."""
    wf = workflow(database)
    if target == Target.aoi:
        result = wf.retry_aoi(ident, force=force)
        console.print(f"retried {result.scenes} scene(s) and {result.tiles} tile(s) of {ident}")
        return
    if force:
        raise InvalidInput("--force goes with 'retry aoi'; use 'force scene|tile ID PENDING' for one task")
    item = wf.retry(_kind(target), _int_id(ident))
    console.print(f"{target.value} {item.id} is now {_status_text(item.status)}")


def fail(
    target: Annotated[Target, typer.Argument(help="scene or tile.")],
    ident: Annotated[int, typer.Argument(metavar="ID")],
    message: Annotated[str | None, typer.Option("--message", "-m", help="Why (kept in the history).")] = None,
    database: DatabaseOpt = None,
) -> None:
    """Fail a RETRY scene/tile; dependants are re-linked around it."""
    item = workflow(database).fail(_kind(target), ident, message)
    console.print(f"{target.value} {item.id} is now {_status_text(item.status)}")


def force(
    target: Annotated[Target, typer.Argument(help="scene or tile.")],
    ident: Annotated[int, typer.Argument(metavar="ID")],
    status: Annotated[str, typer.Argument(metavar="STATUS", help="NEW, PENDING, DONE, RETRY or FAILED.")],
    message: Annotated[str | None, typer.Option("--message", "-m")] = None,
    database: DatabaseOpt = None,
) -> None:
    """Set any status, running the same side effects as the normal transition."""
    to = _parse_status(status)
    assert to is not None
    item = workflow(database).force(_kind(target), ident, to, message)
    console.print(f"{target.value} {item.id} is now {_status_text(item.status)}")


def dot(
    aoi: Annotated[str, typer.Argument(help="AOI name.")],
    database: DatabaseOpt = None,
) -> None:
    """The dependency graph in Graphviz dot (pipe it to `dot -Tsvg`)."""
    print(workflow(database).dot(aoi), end="")


def delete(
    aoi: Annotated[str, typer.Argument(help="AOI name.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    database: DatabaseOpt = None,
) -> None:
    """Delete an AOI with its scenes, tiles and history (stored files and index entries stay)."""
    wf = workflow(database)
    summary = wf.summary(aoi)
    if not yes and not typer.confirm(f"Delete AOI {aoi} ({summary.scenes.total} scenes, {summary.tiles.total} tiles)?"):
        raise typer.Exit(1)
    result = wf.delete_aoi(aoi)
    console.print(f"deleted {aoi}: {result.scenes} scene(s), {result.tiles} tile(s)")


def history(
    target: Annotated[Target, typer.Argument(help="scene or tile.")],
    ident: Annotated[int, typer.Argument(metavar="ID")],
    database: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every status change of a scene or tile, with who and why."""
    from geocube_ingest.workflow.serialize import event_json

    found = workflow(database).events(_kind(target), ident)
    if as_json:
        print_json([event_json(e) for e in found])
        return
    table = Table("when (UTC)", "from", "to", "by", "message", box=None)
    for e in found:
        table.add_row(
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.from_status.value if e.from_status else "",
            _status_text(e.to_status),
            e.actor,
            e.message,
        )
    console.print(table)


def _int_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"expected a numeric id, got {text!r}") from None


def register(app: typer.Typer) -> None:
    for command in (aois, status, scenes, tiles, retry, fail, force, dot, delete, history):
        app.command()(command)
