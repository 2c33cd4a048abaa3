"""Text renderings operators already know: the AOI summary and the Graphviz dot graph."""

from __future__ import annotations

from collections.abc import Iterable

from geocube_ingest.status import Status
from geocube_ingest.workflow.models import AOISummary, Scene, StatusCounts, Tile


def _counts_block(title: str, counts: StatusCounts) -> str:
    return (
        f"{title}:\n"
        f"  new:     {counts.new}\n"
        f"  pending: {counts.pending}\n"
        f"  done:    {counts.done}\n"
        f"  retry:   {counts.retry}\n"
        f"  failed:  {counts.failed}\n"
        f"  Total:   {counts.total}\n"
    )


def summary_text(summary: AOISummary) -> str:
    """The plain-text overview of `seeds/monitoring.md`, byte for byte."""
    first = summary.first_date.strftime("%Y-%m-%d") if summary.first_date else "-"
    last = summary.last_date.strftime("%Y-%m-%d") if summary.last_date else "-"
    return (
        _counts_block("Scenes", summary.scenes)
        + _counts_block("Tiles", summary.tiles)
        + f"\nRoot tiles : {summary.root_tiles}\n  From: {first}\n  To:   {last}\n"
    )


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot_text(aoi: str, scenes: Iterable[Scene], tiles: Iterable[Tile]) -> str:
    """Scenes as boxes, tiles as ellipses; scene→tile and previous→tile edges, coloured by status.

    Edges into work that is not DONE are dotted, so the part still to run stands out.
    """
    scenes = sorted(scenes, key=lambda s: s.id)
    tiles = sorted(tiles, key=lambda t: t.id)
    lines = [f"digraph {_quote(aoi)} {{", "  rankdir=LR;"]
    for s in scenes:
        label = _quote(f"{s.source_id}\\n(id={s.id})").replace("\\\\n", "\\n")
        lines.append(f"  s{s.id} [label={label} shape=box color={s.status.color}];")
    for t in tiles:
        label = _quote(f"{t.source_id}\\n(id={t.id})").replace("\\\\n", "\\n")
        lines.append(f"  t{t.id} [label={label} color={t.status.color}];")
    for t in tiles:
        scene_style = "" if t.scene_status == Status.DONE else " style=dotted"
        lines.append(f"  s{t.scene_id} -> t{t.id} [color=gray{scene_style}];")
        if t.previous_id is not None:
            tile_style = "" if t.status == Status.DONE else " [style=dotted]"
            lines.append(f"  t{t.previous_id} -> t{t.id}{tile_style};")
    lines.append("}")
    return "\n".join(lines) + "\n"
