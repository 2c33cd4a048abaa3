"""The dependency graph of an AOI drawn as SVG by Graphviz.

The same graph as `Workflow.dot()`, laid out for reading: each scene is a box (a Graphviz
cluster) holding its tiles, so "scene → tile" is shown by containment, and previous →
tile edges run from one acquisition to the next. Boxes and tiles are filled with their
status colours; every scene box and tile carries an `id` (`gv-scene-12`, `gv-tile-34`)
and a `class` with its status, so the web page can link them to its tables. Layout runs
in the `dot` program, with a timeout.
"""

from __future__ import annotations

import math
import shutil
import subprocess

import graphviz

from geocube_ingest.api.errors import GraphTooLarge, GraphUnavailable
from geocube_ingest.status import Status
from geocube_ingest.workflow import Scene, Tile

# (fill, outline) per status: light fills keep labels readable, outlines carry the status colour.
PALETTE: dict[Status, tuple[str, str]] = {
    Status.NEW: ("#eef0f3", "#8a94a6"),
    Status.PENDING: ("#e3efff", "#2f6fde"),
    Status.RETRY: ("#fff1dc", "#e48a00"),
    Status.DONE: ("#e3f6e8", "#2e9e53"),
    Status.FAILED: ("#fde5e5", "#d93a3a"),
}
FONT = "DejaVu Sans,Helvetica,Arial,sans-serif"


def _scene_label(scene: Scene) -> str:
    day = scene.date.strftime("%Y-%m-%d") if scene.date else "no date"
    head = scene.source_id if len(scene.source_id) <= 34 else scene.source_id[:32] + "…"
    return f"{head}\n{day} · #{scene.id} · {scene.status.value}"


def _tile_label(tile: Tile) -> str:
    head = tile.source_id if len(tile.source_id) <= 24 else tile.source_id[:21] + "…"
    return f"{head}  #{tile.id}"


def build(aoi: str, scenes: list[Scene], tiles: list[Tile]) -> graphviz.Digraph:
    by_scene: dict[int, list[Tile]] = {}
    for t in sorted(tiles, key=lambda t: t.id):
        by_scene.setdefault(t.scene_id, []).append(t)
    # Time runs along the ranks: a few long series (S2 tiles, one burst) read better top-down
    # than as one long thin line; many parallel series (S1 bursts) read better left-right.
    widest = max((len(v) for v in by_scene.values()), default=1)
    direction = "TB" if len(scenes) > 3 * widest else "LR"
    graph = graphviz.Digraph(
        name=aoi,
        graph_attr={
            "rankdir": direction,
            "bgcolor": "transparent",
            "nodesep": "0.12",
            "ranksep": "0.6",
            "pad": "0.2",
            "fontname": FONT,
            "fontsize": "11",
        },
        node_attr={
            "fontname": FONT,
            "fontsize": "10",
            "shape": "box",
            "style": "filled,rounded",
            "penwidth": "1.3",
            "margin": "0.1,0.04",
            "height": "0.3",
        },
        edge_attr={"arrowsize": "0.6", "penwidth": "1.1", "color": "#5b6577"},
    )
    ordered = sorted(scenes, key=lambda s: (s.date is None, s.date, s.id))
    linked = any(t.previous_id is not None for t in tiles)
    # Graphviz stacks unlinked rows bottom-up in definition order: newest first puts the oldest on top.
    for s in ordered if linked else ordered[::-1]:
        line = PALETTE[s.status][1]
        with graph.subgraph(name=f"cluster_s{s.id}") as box:
            box.attr(
                label=_scene_label(s),
                style="filled,rounded",
                fillcolor="#f8f9fb",
                color=line,
                fontcolor=line,
                penwidth="1.6",
                margin="10",
                id=f"gv-scene-{s.id}",
                tooltip=f"scene {s.id} {s.source_id}: {s.status.value}",
                **{"class": f"scene st-{s.status.value}"},
            )
            for t in by_scene.get(s.id, []):
                tile_fill, tile_line = PALETTE[t.status]
                box.node(
                    f"t{t.id}",
                    label=_tile_label(t),
                    fillcolor=tile_fill,
                    color=tile_line,
                    id=f"gv-tile-{t.id}",
                    tooltip=f"tile {t.id} {t.source_id}: {t.status.value}",
                    **{"class": f"tile st-{t.status.value}"},
                )
    for t in sorted(tiles, key=lambda t: t.id):
        if t.previous_id is not None:
            graph.edge(f"t{t.previous_id}", f"t{t.id}", style="solid" if t.status == Status.DONE else "dashed")
    if not linked:
        _grid(graph, [by_scene[s.id][0] for s in ordered if by_scene.get(s.id)])
    return graph


def _grid(graph: graphviz.Digraph, firsts: list[Tile]) -> None:
    """Without links (S2, Landsat) scenes would pile up in one column: lay them out in rows by date."""
    columns = max(1, math.ceil(math.sqrt(len(firsts) / 2)))
    for i in range(len(firsts) - 1):
        if (i + 1) % columns:
            graph.edge(f"t{firsts[i].id}", f"t{firsts[i + 1].id}", style="invis")


def check_size(aoi: str, size: int, max_nodes: int) -> None:
    if size > max_nodes:
        raise GraphTooLarge(
            f"AOI {aoi!r} has {size} scenes and tiles, too many to draw (limit {max_nodes}, settings "
            f"api.max_graph_nodes): use GET /aoi/{aoi}/dot"
        )


def render_svg(aoi: str, scenes: list[Scene], tiles: list[Tile], *, max_nodes: int, timeout_seconds: float) -> bytes:
    check_size(aoi, len(scenes) + len(tiles), max_nodes)
    program = shutil.which("dot")
    if program is None:
        raise GraphUnavailable(f"Graphviz is not installed on the server (no 'dot' program): use GET /aoi/{aoi}/dot")
    source = build(aoi, scenes, tiles).source
    try:
        done: subprocess.CompletedProcess[bytes] = subprocess.run(
            [program, "-Tsvg"], input=source.encode("utf-8"), capture_output=True, timeout=timeout_seconds, check=False
        )
    except subprocess.TimeoutExpired:
        raise GraphUnavailable(
            f"Graphviz took more than {timeout_seconds:g} s to draw AOI {aoi!r}: use GET /aoi/{aoi}/dot"
        ) from None
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GraphUnavailable(f"Graphviz failed to draw AOI {aoi!r}: {reason[-1] if reason else 'no output'}")
    return done.stdout
