"""The processing jobs: the scene graph at download time, the tile graph per tile.

Each run gets its own scratch folder (removed at the end): inputs of the three slots are
imported from storage, the steps whose condition holds run, outputs are stored, indexed
and deleted as the graph says, and the error (if any) is raised classified, for the
workflow to turn into DONE / RETRY / FAILED / "try later" (`Outcome.from_error`).
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from geocube_ingest import storage
from geocube_ingest.errors import FatalError, InvalidInput, NotFound, RetriableError, TaskError
from geocube_ingest.index.base import Index
from geocube_ingest.processing import conditions
from geocube_ingest.processing.errors import classify_exception
from geocube_ingest.processing.graph import LoadedGraph, companion_extension, load_graph
from geocube_ingest.processing.outputs import ProcessResult, hand_off
from geocube_ingest.processing.runner import run_steps, select_outputs
from geocube_ingest.processing.validate import require_valid
from geocube_ingest.processing.workspace import SlotTile, Workspace, scene_slot
from geocube_ingest.settings import Settings, get_settings
from geocube_ingest.workflow.models import Scene, Tile

log = logging.getLogger(__name__)

__all__ = ["ProcessResult", "process_tile", "run_scene_graph"]


def _graph(name: Any, config: Mapping[str, Any] | None, settings: Settings) -> LoadedGraph:
    """The graph to run, checked; a graph that cannot run is a fatal error of the task."""
    if not name:
        raise FatalError("no graph_name")
    try:
        loaded = load_graph(str(name), settings)
        require_valid(loaded, settings, {str(k): str(v) for k, v in (config or {}).items()})
    except (InvalidInput, NotFound) as exc:  # unknown, refused (graphs.allowed_sources) or invalid
        raise FatalError(str(exc)) from exc
    return loaded


@contextmanager
def _scratch(work_dir: Path, label: str, settings: Settings) -> Iterator[Path]:
    root = Path(work_dir) / f"{label}-{uuid.uuid4().hex[:8]}"
    root.mkdir(parents=True, exist_ok=True)
    try:
        yield root
    finally:
        if not settings.processing.keep_work_dir:
            shutil.rmtree(root, ignore_errors=True)


def _import_inputs(loaded: LoadedGraph, workspace: Workspace, settings: Settings) -> None:
    """Bring the `in_files` of each slot whose condition holds into the scratch folder, once each."""
    imported: dict[Path, Path] = {}
    for slot, files in enumerate(loaded.graph.in_files):
        for infile in files:
            if not conditions.tile_condition(infile.condition, workspace.slots):
                continue
            if workspace.is_registered(slot, infile.layer, infile.extension):
                continue
            wanted = workspace.path(slot, infile.layer, infile.extension)
            if wanted in imported:
                workspace.register(slot, infile.layer, infile.extension, imported[wanted])
                continue
            tile = workspace.slots[slot]
            url = tile.uri(infile.layer, infile.extension)
            log.info("import %s", url)
            try:
                local = storage.get_path(url, workspace.root, settings=settings)
            except (FileNotFoundError, NotFound):
                raise RetriableError(
                    f"input {infile.layer}.{infile.extension} of slot {slot} ({tile.tile_source_id}) not found at {url}"
                ) from None
            except TaskError:
                raise
            except Exception as exc:
                raise classify_exception(exc, f"import {url}") from exc
            imported[wanted] = Path(local)
            workspace.register(slot, infile.layer, infile.extension, Path(local))
            _import_companion(url, infile.extension, workspace.root, settings)


def _import_companion(url: str, extension: str, local_dir: Path, settings: Settings) -> None:
    """`X.data` with `X.dim`, when it was stored (a DIMAP header without its folder is unreadable)."""
    companion = companion_extension(extension)
    if companion is None:
        return
    companion_url = url.removesuffix(f".{extension}") + f".{companion}"
    try:
        storage.get_path(companion_url, local_dir, settings=settings)
    except (FileNotFoundError, NotFound):
        log.warning("%s has no %s folder stored next to it", url, companion)


def _run(
    loaded: LoadedGraph, config: dict[str, str], workspace: Workspace, index: Index | None, settings: Settings
) -> ProcessResult:
    """Steps, then outputs (also after a failure: on_failure outputs), then the error if any."""
    error = run_steps(loaded, config, workspace, settings)
    selected = select_outputs(loaded, workspace, error)
    try:
        result = hand_off(selected, workspace, config, index=index, settings=settings)
    except Exception as exc:
        handoff_error = classify_exception(exc, "outputs")
        if error is not None:
            raise type(error)(f"{error} (then, handling outputs: {handoff_error})") from exc
        raise handoff_error from exc
    if error is not None:
        raise error
    return result


def _linked_slot(other: Tile | None, tile: Tile, storage_uri: str, settings: Settings) -> SlotTile:
    """The previous/reference slot (the tile itself when none), read from its own root: one the operator allows."""
    if other is None:
        return SlotTile.from_tile(tile, storage_uri)
    own = storage.resolve_storage_uri(other.scene_data, settings=settings)
    return SlotTile.from_tile(other, own if other.scene_data.get("storage_uri") else storage_uri)


def process_tile(
    tile: Tile,
    previous: Tile | None,
    reference: Tile | None,
    *,
    work_dir: Path,
    storage_uri: str,
    index: Index | None,
    settings: Settings | None = None,
) -> ProcessResult:
    """Run the tile graph (`tile.data["graph_name"]`) on a tile, its previous and its reference.

    A missing previous/reference is the tile itself. Raises TemporaryError, RetriableError or
    FatalError (after handling the outputs the graph keeps or deletes on failure).
    """
    settings = settings or get_settings()
    overrides = tile.scene_data.get("graph_config") or {}
    loaded = _graph(tile.data.get("graph_name"), overrides, settings)
    slots = [
        SlotTile.from_tile(tile, storage_uri),
        _linked_slot(previous, tile, storage_uri, settings),
        _linked_slot(reference, tile, storage_uri, settings),
    ]
    with _scratch(Path(work_dir), f"tile-{tile.id}", settings) as root:
        workspace = Workspace(root, slots)
        config = loaded.graph.resolved_config(overrides, root)
        _import_inputs(loaded, workspace, settings)
        result = _run(loaded, config, workspace, index, settings)
    log.info("tile %s: %d outputs stored, %d indexed", tile.source_id, len(result.outputs), len(result.indexed))
    return result


def run_scene_graph(
    scene: Scene,
    tiles: list[Tile],
    product: Path,
    *,
    work_dir: Path,
    storage_uri: str,
    settings: Settings | None = None,
) -> dict[int, list[str]]:
    """Run the scene graph (`scene.data["graph_name"]`) once per tile on the local product.

    The product is every product layer (`product`, `__product__`) of the graph; its
    `to_create` outputs are stored with `storage.tile_output_uri`. Returns tile id → stored URLs.
    """
    settings = settings or get_settings()
    if not Path(product).exists():
        raise RetriableError(f"product {product} is not there")
    overrides = scene.data.get("graph_config") or {}
    loaded = _graph(scene.data.get("graph_name"), overrides, settings)
    stored: dict[int, list[str]] = {}
    for tile in tiles:
        slot = scene_slot(scene, tile, storage_uri)
        with _scratch(Path(work_dir), f"scene-{scene.id}-tile-{tile.id}", settings) as root:
            workspace = Workspace(root, [slot, slot, slot], product=Path(product))
            config = loaded.graph.resolved_config(overrides, root)
            _import_inputs(loaded, workspace, settings)
            stored[tile.id] = _run(loaded, config, workspace, None, settings).outputs
    return stored
