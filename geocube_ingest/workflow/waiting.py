"""Why work waits, in words: leases held by other workers, work given back after a temporary
error until a given time, downloads queued for a provider slot.

Drain loops say it once per change (log, Prefect run log); the CLI's progress bars show it
next to the counts. Leases of this process are not a reason to wait: they are our own work.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime

from geocube_ingest.database import utcnow
from geocube_ingest.workflow.models import Kind, WorkStatus
from geocube_ingest.workflow.owners import Owner, is_mine
from geocube_ingest.workflow.slots import SlotUsage


@dataclass(frozen=True, slots=True)
class Reason:
    kind: Kind
    key: Hashable  # the same wait keeps the same key while it lasts
    text: str


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def at(when: datetime, now: datetime | None = None) -> str:
    """`12:03:04 UTC (in 41 s)`."""
    seconds = max((when - (now or utcnow())).total_seconds(), 0)
    return f"{when:%H:%M:%S} UTC (in {seconds:.0f} s)"


def lease_reasons(status: WorkStatus, kinds: Collection[Kind] = ("scene", "tile")) -> list[Reason]:
    """Leases of other workers (who, where, until when) and work given back until a time."""
    now = utcnow()
    reasons = []
    for holder in status.holders:
        if holder.kind in kinds and not is_mine(holder.owner):
            text = (
                f"{_plural(holder.tasks, holder.kind)} leased by {holder.owner} ({Owner.parse(holder.owner).where()})"
                f" until {at(holder.expires_at, now)} at the earliest: waiting for its results or for the lease"
                " to expire"
            )
            reasons.append(Reason(holder.kind, ("lease", holder.kind, holder.owner), text))
    for delay in status.delays:
        if delay.kind in kinds:
            what = _plural(delay.tasks, delay.kind)
            text = f"{what} given back after a temporary error, due again at {at(delay.due, now)}"
            reasons.append(Reason(delay.kind, ("delay", delay.kind, delay.due), text))
    return reasons


def slot_reasons(usages: Sequence[SlotUsage], aoi: str | None = None) -> list[Reason]:
    """Downloads (of `aoi`, or of any AOI) queued for a provider slot."""
    reasons = []
    for usage in usages:
        waiting = usage.waiting if aoi is None else usage.waiting_by_aoi.get(aoi, 0)
        if waiting:
            text = (
                f"{_plural(waiting, 'download')} waiting for a slot of provider {usage.provider}"
                f" ({usage.held} of {usage.capacity} in use)"
            )
            reasons.append(Reason("scene", ("slot", usage.provider), text))
    return reasons
