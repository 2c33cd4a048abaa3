"""Leases: claims, expiry, heartbeats, stale results, temporary failures."""

from __future__ import annotations

import time

from geocube_ingest.status import Status
from geocube_ingest.workflow import Outcome, Workflow

from .helpers import download_all, series, tile_id


def test_claim_hands_each_task_out_once(workflow: Workflow) -> None:
    workflow.ingest("A", series(5, linked=False))
    first = workflow.claim("scene", "w1", limit=3)
    second = workflow.claim("scene", "w2", limit=3)
    assert len(first) == 3 and len(second) == 2
    assert not {lease.id for lease in first} & {lease.id for lease in second}
    assert workflow.claim("scene", "w3") == []
    assert all(lease.owner == "w1" and lease.aoi == "A" for lease in first)


def test_claims_can_be_limited_to_an_aoi(workflow: Workflow) -> None:
    workflow.ingest("A", series(2, linked=False))
    workflow.ingest("B", series(2, linked=False))
    assert {lease.aoi for lease in workflow.claim("scene", "w", aoi="B", limit=10)} == {"B"}


def test_tiles_are_claimable_only_when_ready(workflow: Workflow) -> None:
    workflow.ingest("A", series(2))
    assert workflow.claim("tile", "w") == []
    download_all(workflow)
    [lease] = workflow.claim("tile", "w", limit=10)
    assert lease.id == tile_id(workflow, "A", "S000", "b1")


def test_expired_lease_is_handed_out_again_and_late_result_ignored(workflow: Workflow) -> None:
    workflow.ingest("A", series(1))
    [dead] = workflow.claim("scene", "dying-worker", lease_seconds=0.2)
    time.sleep(0.3)
    [alive] = workflow.claim("scene", "w2")
    assert alive.id == dead.id and alive.token > dead.token
    assert workflow.report(dead, Outcome.failed("I was dead")) is False
    assert workflow.scene(dead.id).status == Status.PENDING
    assert workflow.report(alive, Outcome.done()) is True
    assert workflow.report(alive, Outcome.done()) is False  # reported once only
    assert workflow.scene(dead.id).status == Status.DONE


def test_expired_but_not_reclaimed_result_is_accepted(workflow: Workflow) -> None:
    workflow.ingest("A", series(1))
    [slow] = workflow.claim("scene", "slow", lease_seconds=0.1)
    time.sleep(0.2)
    assert workflow.report(slow, Outcome.done()) is True


def test_heartbeat_extends_and_detects_loss(workflow: Workflow) -> None:
    workflow.ingest("A", series(1))
    [lease] = workflow.claim("scene", "w", lease_seconds=0.3)
    [extended] = workflow.heartbeat([lease], lease_seconds=60)
    assert extended is not None and extended.expires_at > lease.expires_at
    time.sleep(0.4)
    assert workflow.claim("scene", "thief") == []  # still ours thanks to the heartbeat
    workflow.force("scene", lease.id, Status.PENDING)  # an operator re-dispatches it
    assert workflow.heartbeat([lease]) == [None]


def test_temporary_failure_gives_the_task_back_later(workflow: Workflow) -> None:
    workflow.ingest("A", series(1))
    [lease] = workflow.claim("scene", "w")
    assert workflow.report(lease, Outcome.temporary("HTTP 503", delay=1.5)) is True
    scene = workflow.scene(lease.id)
    assert scene.status == Status.PENDING
    assert workflow.claim("scene", "w") == []  # not before the delay
    time.sleep(1.6)
    [again] = workflow.claim("scene", "w")
    assert again.id == lease.id
    assert any("HTTP 503" in e.message for e in workflow.events("scene", lease.id))


def test_batch_report_mixes_outcomes(workflow: Workflow) -> None:
    workflow.ingest("A", series(4, linked=False))
    leases = workflow.claim("scene", "w", limit=4)
    accepted = workflow.report_many(
        [
            (leases[0], Outcome.done()),
            (leases[1], Outcome.retry("r")),
            (leases[2], Outcome.failed("f")),
            (leases[3], Outcome.temporary("t", delay=60)),
            (leases[0], Outcome.done()),  # duplicate in the same batch
        ]
    )
    assert accepted == [True, True, True, True, False]
    got = [workflow.scene(lease.id).status for lease in leases]
    assert got == [Status.DONE, Status.RETRY, Status.FAILED, Status.PENDING]


def test_outcome_from_error() -> None:
    from geocube_ingest.errors import FatalError, RetriableError, TemporaryError

    assert Outcome.from_error(TemporaryError("503"), is_retriable=False).kind == "TEMPORARY"
    assert Outcome.from_error(RetriableError("x"), is_retriable=True).kind == "RETRY"
    assert Outcome.from_error(RetriableError("x"), is_retriable=False).kind == "FAILED"
    assert Outcome.from_error(FatalError("x"), is_retriable=True).kind == "FAILED"
    assert Outcome.from_error(ValueError("boom"), is_retriable=True) == Outcome.retry("boom")


def test_work_status_says_who_holds_what_until_when(workflow: Workflow) -> None:
    workflow.ingest("A", series(4, linked=False))
    held = workflow.claim("scene", "far-host:12:download", limit=2, lease_seconds=30)
    [given_back] = workflow.claim("scene", "w", limit=1)
    workflow.report(given_back, Outcome.temporary("HTTP 503", delay=40))
    status = workflow.work_status("A")
    [holder] = status.holders
    assert (holder.kind, holder.owner, holder.tasks) == ("scene", "far-host:12:download", 2)
    assert holder.expires_at == min(lease.expires_at for lease in held)
    [delay] = status.delays
    assert (delay.kind, delay.tasks) == ("scene", 1) and delay.due == status.next_due
    assert (status.leased, status.delayed, status.claimable_scenes) == (2, 1, 1)


def test_a_claim_says_whose_expired_lease_it_takes_over(workflow: Workflow) -> None:
    workflow.ingest("A", series(2, linked=False))
    [dead] = workflow.claim("scene", "other-host:4242:download", limit=1, lease_seconds=0.2)
    time.sleep(0.3)
    leases = workflow.claim("scene", "here:1:download", limit=2)
    assert {lease.id: lease.taken_over_from for lease in leases} == {
        dead.id: "other-host:4242:download",
        dead.id + 1: None,
    }
