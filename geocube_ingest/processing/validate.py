"""Checking a graph before running it: every problem, each with where it is.

Parsing (graph.py) checks the shape; this checks what parsing cannot: engines and their
commands exist, config keys are set, inputs are imported or produced before they are read,
outputs handed on are produced, data formats of indexed outputs are complete.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from geocube_ingest.errors import GeocubeIngestError, TemporaryError
from geocube_ingest.processing.engines import ENGINE_NAMES, get_engine
from geocube_ingest.processing.engines.docker import UNAVAILABLE
from geocube_ingest.processing.graph import (
    ANY_EXTENSION,
    WORKDIR_KEY,
    ConfigArg,
    GraphError,
    InArg,
    LoadedGraph,
    OutArg,
    OutFile,
    graph_dirs,
    is_product,
    load_graph,
)
from geocube_ingest.processing.workspace import stored_layer
from geocube_ingest.settings import Settings, get_settings


@dataclass(frozen=True)
class Problem:
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


def _file_key(layer: str, ext: str) -> tuple[str, str]:
    return (stored_layer(layer), ext)


def _produces(outputs: set[tuple[str, str]], layer: str, ext: str) -> bool:
    return _file_key(layer, ext) in outputs or ("*", ext) in outputs


def validate_graph(
    loaded: LoadedGraph,
    settings: Settings | None = None,
    config: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Every problem of a parsed graph (empty when it can run). `config` overrides its defaults."""
    settings = settings or get_settings()
    graph = loaded.graph
    resolved = graph.resolved_config(config, Path("."))
    problems: list[Problem] = []
    base_dirs = [str(d) for d in ([loaded.base_dir] if loaded.base_dir else []) + graph_dirs(settings)]

    inputs = [{_file_key(f.layer, f.extension) for f in files} for files in graph.in_files]
    for slot, files in enumerate(graph.in_files):
        seen: set[tuple[str, str]] = set()
        for j, infile in enumerate(files):
            where = f"in_files[{slot}][{j}]"
            key = _file_key(infile.layer, infile.extension)
            if infile.extension == ANY_EXTENSION:
                problems.append(Problem(where, "an input needs a concrete extension, not '*'"))
            if key in seen:
                problems.append(Problem(where, f"{infile.layer}.{infile.extension} is imported twice"))
            seen.add(key)

    produced: set[tuple[str, str]] = set()
    for i, step in enumerate(graph.processing_steps):
        where = f"processing_steps[{i}]"
        if step.engine not in ENGINE_NAMES:
            problems.append(
                Problem(
                    f"{where}.engine", f"unknown engine {step.engine!r} (expected one of {', '.join(ENGINE_NAMES)})"
                )
            )
        else:
            try:
                engine_problems = get_engine(step.engine).check(step, base_dirs, settings)
            except GeocubeIngestError as exc:
                engine_problems = [("command", str(exc))]
            problems += [Problem(f"{where}.{loc}", msg) for loc, msg in engine_problems]
        for name, arg in step.args.items():
            loc = f"{where}.args.{name}"
            if isinstance(arg, ConfigArg) and arg.value not in resolved and arg.value != WORKDIR_KEY:
                problems.append(Problem(loc, f"config key {arg.value!r} is not in the graph's config"))
            elif isinstance(arg, InArg):
                key = _file_key(arg.layer, arg.extension)
                available = key in inputs[arg.tile_index] or (
                    arg.tile_index == 0 and (_produces(produced, arg.layer, arg.extension) or is_product(arg.layer))
                )
                if not available:
                    problems.append(
                        Problem(
                            loc,
                            f"{arg.layer}.{arg.extension} of slot {arg.tile_index} is neither in"
                            f" in_files[{arg.tile_index}] nor written by an earlier step",
                        )
                    )
        produced |= {_file_key(a.layer, a.extension) for a in step.args.values() if isinstance(a, OutArg)}

    for slot, outs in enumerate(graph.out_files):
        listed: set[tuple[str, str, str]] = set()
        for j, out in enumerate(outs):
            where = f"out_files[{slot}][{j}]"
            entry = (*_file_key(out.layer, out.extension), out.action)
            if entry in listed:
                problems.append(Problem(where, f"{out.layer}.{out.extension} is listed twice for {out.action}"))
            listed.add(entry)
            if out.extension == ANY_EXTENSION and not is_product(out.layer):
                problems.append(Problem(f"{where}.extension", "'*' is only allowed for the product layer"))
            problems += _check_output(where, slot, out, resolved, inputs, produced)
    return problems


def _check_output(
    where: str,
    slot: int,
    out: OutFile,
    config: Mapping[str, str],
    inputs: list[set[tuple[str, str]]],
    produced: set[tuple[str, str]],
) -> list[Problem]:
    problems: list[Problem] = []
    if out.action in ("to_create", "to_index"):
        key = _file_key(out.layer, out.extension)
        available = key in inputs[slot] or (
            slot == 0 and (_produces(produced, out.layer, out.extension) or is_product(out.layer))
        )
        optional = out.condition == "file_exists"
        if not available and not optional:
            origin = "written by a step or imported" if slot == 0 else f"imported by in_files[{slot}]"
            problems.append(
                Problem(where, f"{out.layer}.{out.extension} is handed on ({out.action}) but never {origin}")
            )
    if out.action == "to_index":
        try:
            dformat = out.dformat(config)
        except GeocubeIngestError as exc:
            problems.append(Problem(f"{where}.dformat_out", str(exc)))
        else:
            if dformat is None:
                problems.append(
                    Problem(f"{where}.dformat_out", "an indexed output needs a data format 'dtype,nodata,min,max'")
                )
        if out.ext_min_value is None or out.ext_max_value is None:
            problems.append(Problem(where, "an indexed output needs ext_min_value and ext_max_value (its real range)"))
        elif not out.ext_min_value < out.ext_max_value:
            problems.append(Problem(where, "ext_min_value must be below ext_max_value"))
    elif out.dformat_out is not None:
        try:
            out.dformat(config)
        except GeocubeIngestError as exc:
            problems.append(Problem(f"{where}.dformat_out", str(exc)))
    return problems


def check_graph(
    name: str,
    settings: Settings | None = None,
    config: Mapping[str, str] | None = None,
    *,
    trusted: bool = False,
) -> list[Problem]:
    """Load and check a graph by name (or an allowed path or URL): its problems (empty when it is fine).

    `trusted` (the operator's own command line) also checks graph files outside the graph folders.
    """
    settings = settings or get_settings()
    try:
        loaded = load_graph(name, settings, trusted=trusted)
    except GraphError as exc:
        return [Problem(loc, msg) for loc, msg in exc.problems]
    return validate_graph(loaded, settings, config)


def require_valid(
    loaded: LoadedGraph, settings: Settings | None = None, config: Mapping[str, str] | None = None
) -> None:
    """Raise GraphError for a graph that cannot run, TemporaryError when only the docker engine is away."""
    problems = validate_graph(loaded, settings, config)
    if problems and all(p.message.startswith(UNAVAILABLE) for p in problems):
        raise TemporaryError(problems[0].message)  # the engine may come back: the task is tried again later
    if problems:
        raise GraphError(loaded.source, [(p.location, p.message) for p in problems])
