"""A semaphore per download provider account, in the workflow database, for every process on every machine.

A download that needs a provider slot queues a ticket (a `waiting` row) and takes a slot
(the row becomes `held`) once fewer than `capacity` slots are held and no older ticket is
waiting before it: first come, first served. Tickets expire unless their owner renews
them while it waits or holds, so the slot (or the place in the queue) of a dead process
comes back: the next look deletes expired tickets. Looks are serialised per provider (an
advisory lock on PostgreSQL; SQLite has a single writer), so two machines never both take
the last slot.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from geocube_ingest import database
from geocube_ingest.workflow.tables import ProviderSlotRow as Row

WAITING = "waiting"
HELD = "held"


@dataclass(frozen=True, slots=True)
class SlotTicket:
    id: int
    provider: str
    capacity: int
    owner: str


@dataclass(frozen=True, slots=True)
class SlotTurn:
    """The answer to one look at the queue."""

    held: bool
    # The ticket had expired and was dropped (its owner did not renew it in time): queue again.
    lost: bool = False
    ahead: int = 0
    in_use: int = 0
    holders: tuple[str, ...] = ()


@dataclass(slots=True)
class SlotUsage:
    """A provider's slots now: how many are held (by whom) and how many downloads wait."""

    provider: str
    capacity: int = 0
    held: int = 0
    waiting: int = 0
    holders: list[str] = field(default_factory=list)
    # Waiting tickets per AOI (downloads of which AOI are held up).
    waiting_by_aoi: dict[str, int] = field(default_factory=dict)


class ProviderSlots:
    """Queue, take, renew and give back provider slots (`seconds`: how long a ticket lives unrenewed)."""

    def __init__(self, sessions: sessionmaker[Session], seconds: float):
        self._sessions = sessions
        self.seconds = seconds

    def queue(
        self, provider: str, capacity: int, owner: str, *, aoi: str | None = None, purpose: str = ""
    ) -> SlotTicket:
        with database.transaction(self._sessions) as session:
            now = database.utcnow()
            slot_id = session.execute(
                insert(Row)
                .values(
                    provider=provider,
                    owner=owner,
                    state=WAITING,
                    capacity=capacity,
                    since=now,
                    expires_at=now + timedelta(seconds=self.seconds),
                    aoi_id=aoi,
                    purpose=purpose,
                )
                .returning(Row.id)
            ).scalar_one()
        return SlotTicket(int(slot_id), provider, capacity, owner)

    def take(self, ticket: SlotTicket) -> SlotTurn:
        """Take a slot if the ticket's turn has come, else keep its place (renewed)."""
        with database.transaction(self._sessions) as session:
            now = database.utcnow()
            _lock_provider(session, ticket.provider)
            session.execute(delete(Row).where(Row.provider == ticket.provider, Row.expires_at < now))
            state = session.scalar(select(Row.state).where(Row.id == ticket.id))
            if state is None:
                return SlotTurn(held=False, lost=True)
            holders = tuple(
                session.scalars(
                    select(Row.owner).where(Row.provider == ticket.provider, Row.state == HELD, Row.id != ticket.id)
                )
            )
            ahead = int(
                session.scalar(
                    select(func.count()).where(
                        Row.provider == ticket.provider, Row.state == WAITING, Row.id < ticket.id
                    )
                )
                or 0
            )
            expires = now + timedelta(seconds=self.seconds)
            turn = state == HELD or len(holders) + ahead < ticket.capacity
            values = {"state": HELD, "since": now} if turn and state != HELD else {}
            session.execute(update(Row).where(Row.id == ticket.id).values(expires_at=expires, **values))
            return SlotTurn(held=turn, ahead=ahead, in_use=len(holders) + turn, holders=holders)

    def renew(self, tickets: Sequence[SlotTicket]) -> list[bool]:
        """Extend tickets; False for one that expired and was dropped meanwhile."""
        if not tickets:
            return []
        with database.transaction(self._sessions) as session:
            expires = database.utcnow() + timedelta(seconds=self.seconds)
            kept = set(
                session.scalars(
                    update(Row)
                    .where(Row.id.in_([t.id for t in tickets]))
                    .values(expires_at=expires)
                    .returning(Row.id)
                    .execution_options(synchronize_session=False)
                )
            )
        return [t.id in kept for t in tickets]

    def release(self, tickets: Sequence[SlotTicket]) -> None:
        if not tickets:
            return
        with database.transaction(self._sessions) as session:
            session.execute(delete(Row).where(Row.id.in_([t.id for t in tickets])))

    def release_owned(self, prefix: str) -> int:
        """Give back every ticket whose owner starts with `prefix` (a process that stops or died)."""
        with database.transaction(self._sessions) as session:
            result = session.execute(delete(Row).where(Row.owner.startswith(prefix, autoescape=True)))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def usage(self) -> list[SlotUsage]:
        """Providers with live tickets, by name."""
        with database.transaction(self._sessions) as session:
            rows = session.execute(
                select(Row.provider, Row.state, Row.owner, Row.capacity, Row.aoi_id).where(
                    Row.expires_at >= database.utcnow()
                )
            ).all()
        found: dict[str, SlotUsage] = {}
        by_aoi: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for row in rows:
            usage = found.setdefault(row.provider, SlotUsage(row.provider))
            usage.capacity = max(usage.capacity, row.capacity)
            if row.state == HELD:
                usage.held += 1
                usage.holders.append(row.owner)
            else:
                usage.waiting += 1
                by_aoi[row.provider][row.aoi_id or ""] += 1
        for name, usage in found.items():
            usage.waiting_by_aoi = dict(by_aoi[name])
        return [found[name] for name in sorted(found)]


def _lock_provider(session: Session, provider: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"geocube-ingest:provider:{provider}"}
        )
