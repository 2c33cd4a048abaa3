"""Several worker processes claiming and completing on PostgreSQL: each task done exactly once.

One extra worker dies holding leases (it exits without reporting): its tasks must be handed
out again once the leases expire, and nothing is lost or run twice at the same time.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import time
from dataclasses import dataclass

import pytest

from geocube_ingest.status import Status
from geocube_ingest.workflow import Outcome, Workflow

from .helpers import series

AOI = "Concurrency"
WORKERS = 4


@dataclass(frozen=True)
class Record:
    kind: str
    id: int
    worker: str
    claimed_at: float
    expires_at: float
    reported_at: float | None
    accepted: bool


def _worker(url: str, name: str, out: mp.Queue, deadline: float) -> None:  # type: ignore[type-arg]
    wf = Workflow(url).as_actor(f"worker:{name}")
    records: list[Record] = []
    idle = 0
    while time.time() < deadline:
        worked = False
        for kind in ("scene", "tile"):
            leases = wf.claim(kind, name, limit=5, lease_seconds=30)  # type: ignore[arg-type]
            claimed = time.time()
            if not leases:
                continue
            worked = True
            time.sleep(0.002 * len(leases))  # "work"
            accepted = wf.report_many([(lease, Outcome.done()) for lease in leases])
            done = time.time()
            records += [
                Record(kind, lease.id, name, claimed, lease.expires_at.timestamp(), done, ok)
                for lease, ok in zip(leases, accepted, strict=True)
            ]
        if not worked:
            summary = wf.summary(AOI)
            if summary.scenes.done + summary.scenes.failed == summary.scenes.total and (
                summary.tiles.done + summary.tiles.failed == summary.tiles.total
            ):
                break
            idle += 1
            time.sleep(0.05)
    out.put(records)


def _dying_worker(url: str, out: mp.Queue) -> None:  # type: ignore[type-arg]
    wf = Workflow(url).as_actor("worker:dying")
    leases = wf.claim("scene", "dying", limit=3, lease_seconds=2)
    out.put(
        [Record("scene", lease.id, "dying", time.time(), lease.expires_at.timestamp(), None, False) for lease in leases]
    )
    out.close()
    out.join_thread()  # the record must reach the test before the process vanishes
    os._exit(0)  # dies without reporting or releasing anything


@pytest.mark.slow
def test_workers_complete_every_task_exactly_once(pg_url: str) -> None:
    from tests.conftest import _truncate_all

    _truncate_all(pg_url)
    wf = Workflow(pg_url)
    # 30 acquisitions x 8 locations: 8 chains of 30 tiles, 240 tiles, 30 scenes.
    wf.ingest(AOI, series(30, [f"loc{i}" for i in range(8)]))

    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    dying = ctx.Process(target=_dying_worker, args=(pg_url, out))
    dying.start()
    dying.join(60)
    deadline = time.time() + 120
    procs = [ctx.Process(target=_worker, args=(pg_url, f"w{i}", out, deadline)) for i in range(WORKERS)]
    for p in procs:
        p.start()
    records: list[Record] = []
    for _ in range(WORKERS + 1):
        records += out.get(timeout=180)
    for p in procs:
        p.join(30)
        assert p.exitcode == 0

    summary = wf.summary(AOI)
    assert summary.scenes.done == 30 and summary.tiles.done == 240, wf.summary_text(AOI)

    # Each task's result was accepted exactly once.
    accepted: dict[tuple[str, int], int] = {}
    for r in records:
        accepted[(r.kind, r.id)] = accepted.get((r.kind, r.id), 0) + int(r.accepted)
    assert len(accepted) == 270 and set(accepted.values()) == {1}

    # The dying worker's scenes were finished by others after its leases expired.
    died = [r for r in records if r.worker == "dying"]
    assert len(died) == 3
    for d in died:
        later = [r for r in records if (r.kind, r.id) == (d.kind, d.id) and r.worker != "dying"]
        assert later and all(r.claimed_at >= d.expires_at - 0.5 for r in later)

    # Never two live claims of one task at once, and the history shows one completion per tile.
    by_task: dict[tuple[str, int], list[Record]] = {}
    for r in records:
        by_task.setdefault((r.kind, r.id), []).append(r)
    for claims in by_task.values():
        claims.sort(key=lambda r: r.claimed_at)
        for first, second in itertools.pairwise(claims):
            ended = first.reported_at if first.reported_at is not None else first.expires_at
            assert second.claimed_at >= ended - 0.5
    for tile in wf.tiles(AOI, limit=20):
        done_events = [e for e in wf.events("tile", tile.id) if e.to_status == Status.DONE]
        assert len(done_events) == 1
