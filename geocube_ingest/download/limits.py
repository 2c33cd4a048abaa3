"""Per-provider download concurrency, enforced across every process on every machine.

Providers cap parallel downloads per account (CDSE allows a few at a time), so a download
holds one of its provider's `max_concurrency` slots while it transfers. The slots live in
the workflow database (`geocube_ingest.workflow.slots`), which every download process can
reach: in-process runs, Prefect tasks and workers on other machines share one count. A
slot is renewed while it is held and while its download waits in the queue, so the slot of
a process that died comes back within `workflow.lease_seconds`. The wait is in turn order,
says who holds the slots, and ends with `Stopped` when the process is asked to stop. The
scene's lease stays alive meanwhile (the batch's heartbeat keeps beating).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from geocube_ingest import shutdown
from geocube_ingest.workflow import Workflow
from geocube_ingest.workflow.owners import owner_id
from geocube_ingest.workflow.slots import ProviderSlots, SlotTicket, SlotTurn

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5


@contextmanager
def provider_slot(
    workflow: Workflow, provider: str, size: int, *, aoi: str | None = None, purpose: str = ""
) -> Iterator[None]:
    """Hold one of `provider`'s `size` download slots for the duration of the block."""
    slots = workflow.slots
    owner = owner_id("download")
    ticket = slots.queue(provider, size, owner, aoi=aoi, purpose=purpose)
    try:
        ticket = _wait_turn(slots, ticket, aoi, purpose)
        with _renewed(slots, ticket):
            yield
    finally:
        try:
            slots.release([ticket])
        except Exception as exc:  # it expires on its own
            log.warning("could not give back a slot of provider %s: %s", provider, exc)


def _wait_turn(slots: ProviderSlots, ticket: SlotTicket, aoi: str | None, purpose: str) -> SlotTicket:
    said = False
    stop = shutdown.event()
    while True:
        turn = slots.take(ticket)
        if turn.held:
            if said:
                log.info("%s: got a download slot of provider %s", purpose or "download", ticket.provider)
            return ticket
        if turn.lost:  # not renewed in time (a stalled process): queue again
            ticket = slots.queue(ticket.provider, ticket.capacity, ticket.owner, aoi=aoi, purpose=purpose)
            continue
        if not said:
            log.info("%s: %s", purpose or "download", waiting_text(ticket, turn))
            said = True
        if stop.wait(POLL_SECONDS * random.uniform(0.6, 1.4)):  # jitter: waiters do not look in step
            slots.release([ticket])
            raise shutdown.Stopped()


def waiting_text(ticket: SlotTicket, turn: SlotTurn) -> str:
    holders = ", ".join(sorted(set(turn.holders))) or "nobody"
    ahead = f", {turn.ahead} download{'s' * (turn.ahead != 1)} ahead" if turn.ahead else ""
    return (
        f"waiting for a download slot of provider {ticket.provider} "
        f"({turn.in_use} of {ticket.capacity} in use by {holders}{ahead})"
    )


@contextmanager
def _renewed(slots: ProviderSlots, ticket: SlotTicket) -> Iterator[None]:
    """Renew the held slot every third of its lifetime while the block runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(slots.seconds / 3):
            try:
                [kept] = slots.renew([ticket])
            except Exception as exc:  # a missed beat only shortens the slot's life
                log.warning("could not renew a slot of provider %s: %s", ticket.provider, exc)
                continue
            if not kept:
                log.warning("a slot of provider %s expired while held (the database was unreachable?)", ticket.provider)

    thread = threading.Thread(target=beat, name="slot-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
