"""Refusing graphs at submission, before anything is created.

A payload names a scene graph and a tile graph; a scenes or tiles file may name others per
scene and tile; `PUT /scene|tile/{id}/data` may change them. Each is resolved under the
operator's rules (`processing.policy`: names of the graph folders; paths, URLs and `data:`
only when allowed) and checked (`validate`) with the graph config it will run with. An
unknown, refused or broken graph is a 400 naming the field (the CLI exits 2), instead of a
whole AOI downloaded for tiles that all fail. The API, the CLI, `ingest()` and the flows
all go through `admit_graphs` / `admit_data`. Listing scenes or tiles creates nothing: it
only needs the graphs known and allowed (`runnable=False`), so a machine without SNAP can
still preview an S1 ingestion whose graphs need it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from geocube_ingest.errors import FieldError, InvalidInput, NotFound
from geocube_ingest.processing.graph import GraphError, load_graph
from geocube_ingest.processing.validate import validate_graph
from geocube_ingest.settings import Settings, get_settings

if TYPE_CHECKING:
    from geocube_ingest.catalogue import CatalogueScene, CatalogueTile
    from geocube_ingest.payload import Payload

MAX_PROBLEMS_PER_GRAPH = 10
MAX_NAME_LENGTH = 1024
ConfigKey = tuple[str, tuple[tuple[str, str], ...]]


class GraphRefused(FieldError):
    """Graphs named by input that cannot be run: the fields and why."""

    def __init__(self, problems: Sequence[tuple[str, str]]):
        super().__init__("graph", problems)


def graph_problems(name: Any, config: Mapping[str, str], settings: Settings, runnable: bool = True) -> list[str]:
    """Why the graph `name` cannot run with `config` (empty when it can; `runnable=False`: loads)."""
    if not isinstance(name, str) or not name.strip():
        return ["no graph named"]
    if len(name) > MAX_NAME_LENGTH:
        return [f"a graph name is at most {MAX_NAME_LENGTH} characters"]
    label = name.strip()[:120]
    try:
        loaded = load_graph(name, settings)
    except GraphError as exc:
        found = [f"graph {label!r} is invalid: {loc}: {msg}" for loc, msg in exc.problems]
    except (NotFound, InvalidInput) as exc:
        found = [str(exc)]
    else:
        found = [f"graph {label!r}: {p}" for p in validate_graph(loaded, settings, config)] if runnable else []
    return found[:MAX_PROBLEMS_PER_GRAPH]


@dataclass
class _Checker:
    """Checks each (graph, config) once: a tiles file names the same graph thousands of times."""

    settings: Settings
    runnable: bool = True
    problems: list[tuple[str, str]] = field(default_factory=list)
    _seen: dict[ConfigKey, list[str]] = field(default_factory=dict)

    def check(self, where: str, name: Any, config: Mapping[str, Any] | None) -> None:
        """Record the problems of this graph at `where`, the first time this graph and config come up."""
        config = {str(k): str(v) for k, v in (config or {}).items()}
        key = (str(name), tuple(sorted(config.items())))
        if key in self._seen:
            return
        self._seen[key] = graph_problems(name, config, self.settings, self.runnable)
        self.problems += [(where, problem) for problem in self._seen[key]]


def admit_graphs(
    payload: Payload,
    *,
    scenes: Sequence[CatalogueScene] | None = None,
    tiles: Sequence[CatalogueTile] | None = None,
    settings: Settings | None = None,
    runnable: bool = True,
) -> None:
    """Raise GraphRefused (400) unless every graph the payload and its files name can run
    (`runnable=False`: is known, allowed and parses).

    Each graph (with its config) is reported once, at the first field naming it.
    """
    checker = _Checker(settings or get_settings(), runnable)
    checker.check("scene_graph_name", payload.scene_graph_name, payload.graph_config)
    checker.check("tile_graph_name", payload.tile_graph_name, payload.graph_config)
    for scene in scenes or ():
        if scene.graph_name:
            checker.check(f"scenes[{scene.source_id}].data.graph_name", scene.graph_name, scene.graph_config)
    for tile in tiles or ():
        if tile.ingested:
            continue  # a re-wired tile of the AOI: its data is not posted again
        config = tile.scene.graph_config if tile.scene is not None else payload.graph_config
        where = f"tiles[{tile.scene_source_id}/{tile.source_id}].data.graph_name"
        checker.check(where, tile.data.get("graph_name"), config)
    if checker.problems:
        raise GraphRefused(checker.problems)


def admit_data(
    kind: Literal["scene", "tile"],
    data: Mapping[str, Any],
    scene_data: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
) -> None:
    """Refuse new scene/tile data naming a graph that cannot run (a tile runs with its scene's graph_config)."""
    if "graph_name" not in data:
        return
    source = data if kind == "scene" else (scene_data or {})
    config = source.get("graph_config") or {}
    if not isinstance(config, Mapping):
        raise GraphRefused([("graph_config", "expected an object of strings")])
    checker = _Checker(settings or get_settings())
    checker.check("graph_name", data["graph_name"], config)
    if checker.problems:
        raise GraphRefused(checker.problems)
