"""Running a graph's steps on a workspace and choosing which outputs to hand on.

Engine-independent: arguments are resolved to strings (upstream's `formatArgs`), each
step whose condition holds is handed to its engine, the first failure stops the run and is
classified, and the outputs are selected with the success or failure rules.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from geocube_ingest.errors import FatalError, TaskError
from geocube_ingest.processing import conditions
from geocube_ingest.processing.errors import classify_exception
from geocube_ingest.processing.graph import ConfigArg, FixedArg, InArg, LoadedGraph, OutArg, OutFile, Step, TileArg
from geocube_ingest.processing.workspace import SlotTile, Workspace
from geocube_ingest.settings import Settings

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

# Upstream passes dates to SNAP graphs in this format (e.g. 04Jan2022).
SNAP_DATE_FORMAT = "%d%b%Y"


def tile_value(key: str, slots: list[SlotTile]) -> str:
    tile = slots[0]
    if key == "swath":
        return str(tile.tile_data.get("swath_id", ""))
    if key == "number":
        return str(tile.tile_data.get("tile_nr", 0))
    if key == "date":
        return tile.date.strftime(SNAP_DATE_FORMAT)
    if key == "cohdate":
        # The reference's date when the previous is not the reference, else the tile's own.
        same = slots[1].scene_source_id == slots[2].scene_source_id
        return (tile if same else slots[2]).date.strftime(SNAP_DATE_FORMAT)
    if key == "scene":
        return tile.scene_source_id
    if key == "constellation":
        return tile.constellation
    if key == "tile":
        return tile.tile_source_id
    if key == "aoi":
        return tile.aoi
    raise FatalError(f"unknown tile value {key!r}")


def resolve_args(step: Step, config: Mapping[str, str], workspace: Workspace) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, arg in step.args.items():
        if isinstance(arg, FixedArg):
            values[name] = arg.value
        elif isinstance(arg, ConfigArg):
            if arg.value not in config:
                raise FatalError(f"argument {name}: config key {arg.value!r} is not set")
            values[name] = config[arg.value]
        elif isinstance(arg, TileArg):
            values[name] = tile_value(arg.value, workspace.slots)
        elif isinstance(arg, InArg):
            values[name] = str(workspace.path(arg.tile_index, arg.layer, arg.extension))
        elif isinstance(arg, OutArg):
            values[name] = str(workspace.path(0, arg.layer, arg.extension))
    return values


@dataclass
class StepContext:
    """What an engine may use while running one step."""

    graph: LoadedGraph
    config: dict[str, str]
    workspace: Workspace
    settings: Settings
    step_index: int = 0
    # Lines printed by programs, kept for the job's message.
    output: list[str] = field(default_factory=list)

    @property
    def work_dir(self) -> Path:
        return self.workspace.root

    def client(self) -> Client:
        from geocube_ingest.processing.cluster import get_client

        return get_client(self.settings)

    def scratch(self, name: str) -> Path:
        """A private file name in the work folder for intermediate results of this step."""
        return self.workspace.root / f".step{self.step_index}_{name}"


def step_label(index: int, step: Step) -> str:
    return f"step {index} ({step.engine} {step.command})"


def run_steps(graph: LoadedGraph, config: dict[str, str], workspace: Workspace, settings: Settings) -> TaskError | None:
    """Run every step whose condition holds; the classified error of the first failing one."""
    from geocube_ingest.processing.engines import get_engine

    for index, step in enumerate(graph.graph.processing_steps):
        if not conditions.tile_condition(step.condition, workspace.slots):
            log.debug("skip %s: condition %s", step_label(index, step), step.condition)
            continue
        where = step_label(index, step)
        try:
            args = resolve_args(step, config, workspace)
            engine = get_engine(step.engine)
            context = StepContext(graph=graph, config=config, workspace=workspace, settings=settings, step_index=index)
            log.info("run %s", where)
            engine.run(step, args, context)
        except Exception as exc:
            return classify_exception(exc, where)
    return None


@dataclass(frozen=True)
class SelectedOutput:
    slot: int
    file: OutFile
    path: Path


def select_outputs(graph: LoadedGraph, workspace: Workspace, error: BaseException | None) -> list[SelectedOutput]:
    """The outputs to act on after the steps ended (successfully when `error` is None)."""
    selected = []
    for slot, files in enumerate(graph.graph.out_files):
        for out in files:
            path = workspace.path(slot, out.layer, out.extension)
            exists = conditions.kind_of(out.condition) is conditions.ConditionKind.FILE and workspace.exists(path)
            if conditions.output_selected(out.condition, out.error_condition, workspace.slots, exists, error):
                selected.append(SelectedOutput(slot, out, path))
    return selected
