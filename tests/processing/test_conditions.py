"""Conditions (tile, file, error) and upstream's output selection rules, exhaustively."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from geocube_ingest.errors import FatalError, RetriableError, TemporaryError
from geocube_ingest.processing import conditions
from geocube_ingest.processing.conditions import ConditionKind, kind_of, output_selected


@dataclass(frozen=True)
class Slot:
    scene_source_id: str


ROOT = [Slot("A"), Slot("A"), Slot("A")]  # no previous, no reference
SECOND = [Slot("B"), Slot("A"), Slot("A")]  # previous is the reference
THIRD = [Slot("C"), Slot("B"), Slot("A")]  # all different

EXPECTED = {
    # condition: (ROOT, SECOND, THIRD)
    "pass": (True, True, True),
    "different_T0_T1": (False, True, True),
    "different_T0_T2": (False, True, True),
    "different_T1_T2": (False, False, True),
    "equal_T0_T1": (True, False, False),
    "equal_T0_T2": (True, False, False),
    "equal_T1_T2": (True, True, False),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_tile_conditions(name: str) -> None:
    assert tuple(conditions.tile_condition(name, slots) for slots in (ROOT, SECOND, THIRD)) == EXPECTED[name]


def test_kinds_and_unknown() -> None:
    assert kind_of("equal_T1_T2") is ConditionKind.TILE
    assert kind_of("file_not_exist") is ConditionKind.FILE
    assert kind_of("on_fatal_failure") is ConditionKind.ERROR
    assert kind_of("sometimes") is None
    with pytest.raises(FatalError):
        conditions.tile_condition("file_exists", ROOT)


def test_file_conditions(tmp_path: Path) -> None:
    there = tmp_path / "there.tif"
    there.write_bytes(b"x")
    assert conditions.file_condition("file_exists", there) and not conditions.file_condition("file_not_exist", there)
    gone = tmp_path / "gone.tif"
    assert conditions.file_condition("file_not_exist", gone) and not conditions.file_condition("file_exists", gone)


def test_error_conditions() -> None:
    assert not conditions.error_condition("on_failure", None)
    assert conditions.error_condition("on_failure", RetriableError("x"))
    assert conditions.error_condition("on_failure", FatalError("x"))
    assert not conditions.error_condition("on_fatal_failure", TemporaryError("x"))
    assert conditions.error_condition("on_fatal_failure", FatalError("x"))


FATAL = FatalError("f")
RETRIABLE = RetriableError("r")


@pytest.mark.parametrize(
    ("condition", "error_condition", "error", "selected"),
    [
        # After success: `condition` decides, error_condition is ignored.
        ("pass", "pass", None, True),
        ("pass", "on_fatal_failure", None, True),
        ("different_T0_T1", "pass", None, False),
        ("equal_T0_T1", "pass", None, True),
        ("on_failure", "pass", None, False),
        ("file_exists", "pass", None, True),
        ("file_not_exist", "pass", None, False),
        # After a failure: only outputs that opted in.
        ("pass", "pass", RETRIABLE, False),
        ("file_exists", "pass", RETRIABLE, False),
        ("on_failure", "pass", RETRIABLE, True),
        ("on_fatal_failure", "pass", RETRIABLE, False),
        ("on_fatal_failure", "pass", FATAL, True),
        ("pass", "on_failure", RETRIABLE, True),
        ("pass", "on_fatal_failure", RETRIABLE, False),
        ("pass", "on_fatal_failure", FATAL, True),
        ("different_T0_T1", "on_fatal_failure", FATAL, False),  # the tile condition still applies
        ("equal_T0_T1", "on_fatal_failure", FATAL, True),
        ("file_exists", "on_failure", RETRIABLE, True),
        ("file_not_exist", "on_failure", RETRIABLE, False),
    ],
)
def test_output_selection(
    tmp_path: Path, condition: str, error_condition: str, error: Exception | None, selected: bool
) -> None:
    local = tmp_path / "out.tif"
    local.write_bytes(b"x")
    assert output_selected(condition, error_condition, ROOT, local, error) is selected
