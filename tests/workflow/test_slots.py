"""Download provider slots in the database: capacity, turn order, expiry of dead holders, giving back."""

from __future__ import annotations

import time

from geocube_ingest.workflow import Workflow
from geocube_ingest.workflow.slots import ProviderSlots


def _slots(workflow: Workflow, seconds: float = 60) -> ProviderSlots:
    return ProviderSlots(workflow.slots._sessions, seconds)


def test_capacity_and_turn_order(workflow: Workflow) -> None:
    slots = _slots(workflow)
    a, b, c, d = (slots.queue("cdse", 2, f"host-{n}:1:download", aoi="A") for n in "abcd")
    # c and d arrived later: they wait, in order, whatever order they look in.
    assert slots.take(d).held is False
    assert slots.take(a).held is True
    waiting = slots.take(c)
    assert not waiting.held and waiting.ahead == 1 and waiting.in_use == 1  # b (waiting) is ahead of c
    assert slots.take(b).held is True
    turn = slots.take(c)
    assert not turn.held and turn.ahead == 0 and turn.in_use == 2
    assert set(turn.holders) == {"host-a:1:download", "host-b:1:download"}
    [usage] = slots.usage()
    assert (usage.provider, usage.capacity, usage.held, usage.waiting, usage.waiting_by_aoi) == (
        "cdse",
        2,
        2,
        2,
        {"A": 2},
    )

    slots.release([a])
    assert slots.take(d).held is False  # c was first in the queue
    assert slots.take(c).held is True
    slots.release([b])
    assert slots.take(d).held is True
    assert slots.take(d).held is True  # looking again while holding keeps it


def test_providers_are_counted_apart(workflow: Workflow) -> None:
    slots = _slots(workflow)
    one = slots.queue("one", 1, "h:1:download")
    other = slots.queue("other", 1, "h:2:download")
    assert slots.take(one).held and slots.take(other).held


def test_a_dead_holders_slot_comes_back(workflow: Workflow) -> None:
    slots = _slots(workflow, seconds=0.5)
    dead = slots.queue("cdse", 1, "gone-host:99:download")
    assert slots.take(dead).held
    alive = slots.queue("cdse", 1, "here:1:download")
    assert not slots.take(alive).held
    time.sleep(0.3)
    assert slots.renew([alive]) == [True]  # a waiter renews its place while it waits
    time.sleep(0.3)
    turn = slots.take(alive)
    assert turn.held and turn.holders == ()  # the dead holder's ticket expired and was dropped
    assert slots.renew([dead]) == [False]
    assert slots.take(dead).lost


def test_everything_of_a_process_is_given_back(workflow: Workflow) -> None:
    slots = _slots(workflow)
    mine = [slots.queue("cdse", 1, "me:7:download") for _ in range(2)]
    theirs = slots.queue("cdse", 1, "me:70:download")
    assert slots.take(mine[0]).held
    assert slots.release_owned("me:7:") == 2
    assert slots.take(theirs).held
