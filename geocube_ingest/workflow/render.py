"""Text renderings operators already know: the AOI summary and the Graphviz dot graph."""

from __future__ import annotations

from collections.abc import Iterable

import graphviz

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


def _label(source_id: str, item_id: int) -> str:
    """The name as plain text (its backslashes, quotes and `<...>` inert), then a line break and the id."""
    return str(graphviz.nohtml(graphviz.escape(source_id) + f"\\n(id={item_id})"))


def dot_text(aoi: str, scenes: Iterable[Scene], tiles: Iterable[Tile]) -> str:
    """Scenes as boxes, tiles as ellipses; scene→tile and previous→tile edges, coloured by status.

    Edges into work that is not DONE are dotted, so the part still to run stands out.
    """
    graph = graphviz.Digraph(name=graphviz.escape(aoi), graph_attr={"rankdir": "LR"})
    tiles = sorted(tiles, key=lambda t: t.id)
    for s in sorted(scenes, key=lambda s: s.id):
        graph.node(f"s{s.id}", _label(s.source_id, s.id), shape="box", color=s.status.color)
    for t in tiles:
        graph.node(f"t{t.id}", _label(t.source_id, t.id), color=t.status.color)
    for t in tiles:
        scene_style = None if t.scene_status == Status.DONE else "dotted"
        graph.edge(f"s{t.scene_id}", f"t{t.id}", color="gray", style=scene_style)
        if t.previous_id is not None:
            graph.edge(f"t{t.previous_id}", f"t{t.id}", style=None if t.status == Status.DONE else "dotted")
    return str(graph.source)
