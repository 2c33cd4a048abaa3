"""Conditions of the graph JSON: when a step runs, an input is imported, an output is handled.

Three kinds, as upstream: *tile* conditions compare the scenes of the three slots
(0 current, 1 previous, 2 reference; a missing previous/reference is the tile itself),
*file* conditions look at a local output file, *error* conditions look at how the steps
ended. Steps and inputs take tile conditions only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from geocube_ingest.errors import FatalError


class ConditionKind(StrEnum):
    TILE = "tile"
    FILE = "file"
    ERROR = "error"


class HasScene(Protocol):
    @property
    def scene_source_id(self) -> str: ...


def _same(i: int, j: int) -> Callable[[Sequence[HasScene]], bool]:
    # Upstream compares scene ids: a burst and its previous burst belong to different scenes.
    return lambda slots: slots[i].scene_source_id == slots[j].scene_source_id


def _different(i: int, j: int) -> Callable[[Sequence[HasScene]], bool]:
    return lambda slots: slots[i].scene_source_id != slots[j].scene_source_id


TILE_CONDITIONS: dict[str, Callable[[Sequence[HasScene]], bool]] = {
    "pass": lambda slots: True,
    "different_T0_T1": _different(0, 1),
    "different_T0_T2": _different(0, 2),
    "different_T1_T2": _different(1, 2),
    "equal_T0_T1": _same(0, 1),
    "equal_T0_T2": _same(0, 2),
    "equal_T1_T2": _same(1, 2),
}
FILE_CONDITIONS = ("file_exists", "file_not_exist")
ERROR_CONDITIONS = ("on_failure", "on_fatal_failure")
ALL_CONDITIONS = (*TILE_CONDITIONS, *FILE_CONDITIONS, *ERROR_CONDITIONS)


def kind_of(name: str) -> ConditionKind | None:
    """The kind of a condition name, None when unknown."""
    if name in TILE_CONDITIONS:
        return ConditionKind.TILE
    if name in FILE_CONDITIONS:
        return ConditionKind.FILE
    if name in ERROR_CONDITIONS:
        return ConditionKind.ERROR
    return None


def tile_condition(name: str, slots: Sequence[HasScene]) -> bool:
    if name not in TILE_CONDITIONS:
        raise FatalError(f"{name!r} is not a tile condition (expected one of {', '.join(TILE_CONDITIONS)})")
    return TILE_CONDITIONS[name](slots)


def file_condition(name: str, path: Path | bool) -> bool:
    """`path`: the file, or whether it exists (an output written straight to storage has no file here)."""
    exists = path if isinstance(path, bool) else path.exists()
    if name == "file_exists":
        return exists
    if name == "file_not_exist":
        return not exists
    raise FatalError(f"{name!r} is not a file condition")


def error_condition(name: str, error: BaseException | None) -> bool:
    if name == "on_failure":
        return error is not None
    if name == "on_fatal_failure":
        return isinstance(error, FatalError)
    raise FatalError(f"{name!r} is not an error condition")


def output_selected(
    condition: str,
    error_cond: str,
    slots: Sequence[HasScene],
    local_path: Path | bool,
    error: BaseException | None,
) -> bool:
    """Whether an output file is handled, with upstream's rules.

    After success `condition` alone decides (an error condition is then false). After a
    failure an output is handled only when it opted in: its `condition` is an error
    condition that holds, or its `error_condition` holds and its tile/file `condition` too.
    """
    kind = kind_of(condition)
    if error is None:
        if kind is ConditionKind.TILE:
            return tile_condition(condition, slots)
        if kind is ConditionKind.FILE:
            return file_condition(condition, local_path)
        return kind is ConditionKind.ERROR and error_condition(condition, None)

    opted_in = kind_of(error_cond) is ConditionKind.ERROR
    if opted_in and not error_condition(error_cond, error):
        return False
    if kind is ConditionKind.ERROR:
        return error_condition(condition, error)
    if not opted_in:
        return False
    if kind is ConditionKind.FILE:
        return file_condition(condition, local_path)
    return kind is ConditionKind.TILE and tile_condition(condition, slots)
