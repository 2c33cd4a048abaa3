"""Temporary failures are bounded: past `max_temporary_attempts` in a row (or `max_temporary_seconds`) they
count like a retriable failure (against retry_count, then RETRY, or FAILED when not retriable), and the
count starts again after any status change. On SQLite and PostgreSQL (the columns come from a migration)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from geocube_ingest.settings import Settings
from geocube_ingest.status import Status
from geocube_ingest.workflow import Outcome, Workflow
from geocube_ingest.workflow.models import Kind
from geocube_ingest.workflow.tables import SceneRow, TileRow

from .helpers import download_all, series


def bounded(database_url: str, **workflow: Any) -> Workflow:
    return Workflow(database_url, settings=Settings.model_validate({"workflow": workflow}))


def fail_temporarily(wf: Workflow, kind: Kind, times: int, *, is_retriable: bool = True) -> list[str]:
    """Claim the task and report a temporary failure, `times` times; the status after each."""
    statuses = []
    for _ in range(times):
        [lease] = wf.claim(kind, "worker", limit=1)
        assert wf.report(lease, Outcome.temporary("ConnectError: refused", delay=0, is_retriable=is_retriable))
        task = wf.scene(lease.id) if kind == "scene" else wf.tile(lease.id)
        statuses.append(task.status.value)
    return statuses


def counters(wf: Workflow, kind: Kind, entity_id: int) -> tuple[int, bool]:
    table = SceneRow if kind == "scene" else TileRow
    with wf.engine.connect() as connection:
        row = connection.execute(
            select(table.temporary_failures, table.temporary_since).where(table.id == entity_id)
        ).one()
    return row.temporary_failures, row.temporary_since is not None


def test_temporary_failures_end_in_retry_after_the_bound(database_url: str) -> None:
    wf = bounded(database_url, max_temporary_attempts=3)
    wf.ingest("A", series(1))
    assert fail_temporarily(wf, "scene", 3) == ["PENDING", "PENDING", "RETRY"]
    [scene] = wf.scenes("A")
    assert scene.message == "ConnectError: refused (gave up after 3 temporary failures in 0 s)"
    messages = [e.message for e in wf.events("scene", scene.id)]
    assert "temporary failure 1 of at most 3, retried in 0 s: ConnectError: refused" in messages
    assert counters(wf, "scene", scene.id) == (0, False)


def test_they_count_against_retry_count(database_url: str) -> None:
    wf = bounded(database_url, max_temporary_attempts=2)
    wf.ingest("A", series(1, retry_countdown=1))
    # 2 temporary failures: an automatic retry (countdown 1 → 0) and a new run of 2; then RETRY sticks.
    assert fail_temporarily(wf, "scene", 4) == ["PENDING", "PENDING", "PENDING", "RETRY"]
    [scene] = wf.scenes("A")
    assert scene.retry_countdown == 0
    history = [e.to_status for e in wf.events("scene", scene.id)]
    assert history.count(Status.RETRY) == 2


def test_not_retriable_ends_in_failed(database_url: str) -> None:
    wf = bounded(database_url, max_temporary_attempts=2)
    wf.ingest("A", series(1, retry_countdown=3))
    assert fail_temporarily(wf, "scene", 2, is_retriable=False) == ["PENDING", "FAILED"]
    [tile] = wf.tiles("A")
    assert tile.status == Status.FAILED  # a failed scene fails its tiles


def test_bounded_in_time_too(database_url: str) -> None:
    wf = bounded(database_url, max_temporary_attempts=100, max_temporary_seconds=0.5)
    wf.ingest("A", series(1))
    assert fail_temporarily(wf, "scene", 1) == ["PENDING"]
    time.sleep(0.6)
    assert fail_temporarily(wf, "scene", 1) == ["RETRY"]
    assert "gave up after 2 temporary failures" in wf.scenes("A")[0].message


def test_an_operator_retry_starts_a_new_count(database_url: str) -> None:
    wf = bounded(database_url, max_temporary_attempts=3)
    wf.ingest("A", series(1))
    fail_temporarily(wf, "scene", 3)
    [scene] = wf.scenes("A")
    wf.retry("scene", scene.id)
    assert counters(wf, "scene", scene.id) == (0, False)
    assert fail_temporarily(wf, "scene", 3) == ["PENDING", "PENDING", "RETRY"]


def test_success_ends_the_count_and_tiles_are_bounded_too(database_url: str) -> None:
    wf = bounded(database_url, max_temporary_attempts=2)
    wf.ingest("A", series(2))
    [first, _] = wf.scenes("A")
    assert fail_temporarily(wf, "scene", 1) == ["PENDING"]
    assert counters(wf, "scene", first.id) == (1, True)
    download_all(wf)
    assert counters(wf, "scene", first.id) == (0, False)
    [root, _] = sorted(wf.tiles("A"), key=lambda t: t.id)
    assert fail_temporarily(wf, "tile", 2) == ["PENDING", "RETRY"]
    assert wf.tile(root.id).status == Status.RETRY


def test_a_temporary_error_says_what_it_becomes_and_when_to_come_back() -> None:
    from geocube_ingest.errors import TemporaryError

    outcome = Outcome.from_error(TemporaryError("HTTP 429", retry_after=120.0), is_retriable=False)
    assert (outcome.kind, outcome.exhausted, outcome.delay) == ("TEMPORARY", "FAILED", 120.0)
    assert Outcome.from_error(TemporaryError("HTTP 503"), is_retriable=True).exhausted == "RETRY"
