"""User-facing errors.

Every error a user can cause derives from `GeocubeIngestError` and carries one readable
line: the CLI prints it and exits 2, the API maps the class to an HTTP status.
"""

from __future__ import annotations

from collections.abc import Iterable


class GeocubeIngestError(Exception):
    """Base class; `str(error)` is the one line shown to the user."""

    http_status = 400


class InvalidInput(GeocubeIngestError):
    """Input that can never succeed as given (a bad payload, an unknown name...)."""

    http_status = 400


class FieldError(InvalidInput):
    """Invalid input with the list of `(field, reason)` problems found."""

    def __init__(self, what: str, problems: Iterable[tuple[str, str]]):
        self.what = what
        self.problems = list(problems)
        super().__init__(self._line())

    def _line(self) -> str:
        parts = [f"{field}: {reason}" if field else reason for field, reason in self.problems]
        return f"invalid {self.what}: " + "; ".join(parts)


class PayloadError(FieldError):
    def __init__(self, problems: Iterable[tuple[str, str]]):
        super().__init__("payload", problems)


class NotFound(GeocubeIngestError):
    http_status = 404


class Conflict(GeocubeIngestError):
    http_status = 409


class InconsistentChange(Conflict):
    """A (forced) status change that would leave the graph of dependencies inconsistent: nothing changed."""


class TransitionRefused(GeocubeIngestError):
    """A status change the workflow rules do not allow (unless forced)."""

    http_status = 403


class TaskError(GeocubeIngestError):
    """A download or processing job failed; the subclass says what the workflow should do."""

    # Met while serving a request, it is a failure of a service we depend on, not bad input.
    http_status = 502


class TemporaryError(TaskError):
    """Try again later (network down, HTTP 429/5xx...): the task is given back, not failed."""

    http_status = 503

    def __init__(self, message: str = "", retry_after: float | None = None):
        super().__init__(message)
        # Seconds the service asked us to wait (Retry-After), when it said.
        self.retry_after = retry_after


class RetriableError(TaskError):
    """The job failed but may succeed on retry: RETRY when the payload is retriable, else FAILED."""


class FatalError(TaskError):
    """The job can never succeed as configured: FAILED whatever the payload says."""
