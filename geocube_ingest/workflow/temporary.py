"""Temporary failures are bounded: past a number of them in a row, or a time, they count as a failure.

A temporary outcome gives the task back, claimable again after a delay (SPEC section 6). Left
alone, an unreachable provider would make every task go round forever. So each scene and
tile counts its temporary failures in a row (`temporary_failures`, `temporary_since`), in
the same UPDATE that gives it back. Once `workflow.max_temporary_attempts` or
`workflow.max_temporary_seconds` is reached, the outcome becomes what the job said it
would be (`Outcome.exhausted`: RETRY, which counts against `retry_count`, or FAILED when
the payload is not retriable), with the reason.

Every status change ends the run of failures: `TemporaryColumns.reset_values()` is merged into
the UPDATE of `transitions.set_status` (done, failed, retried by an operator or automatically,
forced). Any other code that changes a status must merge it too.

The counts live in columns rather than being read back from the event history: one row
update per report, in the transaction that already writes it, no scan of a growing history
and no parsing of messages; the history still has a line per temporary failure.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from geocube_ingest.settings import WorkflowSettings
from geocube_ingest.status import Status
from geocube_ingest.workflow import leases
from geocube_ingest.workflow.models import Lease, Outcome
from geocube_ingest.workflow.tables import SceneRow, TileRow
from geocube_ingest.workflow.transitions import Changes, Ref


def give_back_or_escalate(
    ch: Changes, lease: Lease, ref: Ref, outcome: Outcome, settings: WorkflowSettings
) -> Outcome | None:
    """Give the task back for later (None, with a line of history), or the RETRY/FAILED outcome it now counts as."""
    table = SceneRow if lease.kind == "scene" else TileRow
    row = ch.session.execute(select(table.temporary_failures, table.temporary_since).where(table.id == lease.id)).one()
    failures = row.temporary_failures + 1
    since = row.temporary_since or ch.now
    elapsed = (ch.now - since).total_seconds()
    if failures >= settings.max_temporary_attempts or elapsed >= settings.max_temporary_seconds:
        reason = f"gave up after {failures} temporary failures in {_duration(elapsed)}"
        return Outcome(outcome.exhausted, f"{outcome.message} ({reason})")
    delay = outcome.delay if outcome.delay is not None else settings.temporary_retry_delay_seconds
    not_before = ch.now + timedelta(seconds=delay)
    leases.give_back(ch.session, lease, not_before, temporary_failures=failures, temporary_since=since)
    ch.event(
        lease.kind,
        ref,
        Status.PENDING,
        f"temporary failure {failures} of at most {settings.max_temporary_attempts}, "
        f"retried in {_duration(delay)}: {outcome.message}",
    )
    return None


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
