"""How a failed step is classified: fatal, temporary or retriable.

The workflow acts on the class (SPEC section 5): temporary gives the task back for later,
fatal fails it whatever the payload says, retriable gives RETRY when the payload allows.
Exceptions are classified by type; programs and scripts by the lines they print, as
upstream: a `FATAL ERROR:` line makes the failure fatal, a `TEMPORARY ERROR:` line
(or "temporary failure" / "timed out") temporary.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable

from geocube_ingest.errors import (
    FatalError,
    GeocubeIngestError,
    RetriableError,
    TaskError,
    TemporaryError,
)

FATAL_MARK = "FATAL ERROR:"
TEMPORARY_MARK = "TEMPORARY ERROR:"
# Upstream's python log filter also treats these as temporary.
_TEMPORARY_WORDS = ("temporary failure", "timed out", "try again")
_TEMPORARY_ERRNOS = {
    errno.ENOSPC,
    errno.EAGAIN,
    errno.ETIMEDOUT,
    errno.ECONNRESET,
    errno.ECONNREFUSED,
    errno.EHOSTUNREACH,
}


def classify_message(message: str) -> type[TaskError]:
    """The error class a message asks for (marks win over wording)."""
    if FATAL_MARK in message:
        return FatalError
    if TEMPORARY_MARK in message:
        return TemporaryError
    lowered = message.lower()
    if any(word in lowered for word in _TEMPORARY_WORDS):
        return TemporaryError
    return RetriableError


def classify_exception(exc: BaseException, where: str = "") -> TaskError:
    """Turn any exception raised by a step into the TaskError the workflow understands."""
    prefix = f"{where}: " if where else ""
    if isinstance(exc, TaskError):
        return type(exc)(f"{prefix}{exc}") if prefix else exc
    message = f"{prefix}{type(exc).__name__}: {exc}" if str(exc) else f"{prefix}{type(exc).__name__}"
    if isinstance(exc, GeocubeIngestError):
        # Bad configuration or input: retrying the same thing cannot help.
        return FatalError(message)
    marked = classify_message(str(exc))
    if marked is not RetriableError:
        return marked(message)
    if isinstance(exc, TimeoutError | ConnectionError):
        return TemporaryError(message)
    if isinstance(exc, OSError) and exc.errno in _TEMPORARY_ERRNOS:
        return TemporaryError(message)
    if _is_distributed_comm_error(exc):
        return TemporaryError(message)
    return RetriableError(message)


def _is_distributed_comm_error(exc: BaseException) -> bool:
    """Lost connections to the Dask cluster are temporary (a worker or scheduler restarting)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"CommClosedError", "StreamClosedError", "CancelledError"})


def classify_output(lines: Iterable[str], returncode: int, command: str) -> TaskError:
    """The error of a program that exited with `returncode`, from what it printed.

    The last error-looking line is quoted in the message, like upstream's log filters.
    """
    last_error = ""
    kind: type[TaskError] = RetriableError
    for raw in lines:
        line = raw.rstrip()
        stripped = line.strip()
        if FATAL_MARK in stripped:
            kind, last_error = FatalError, stripped
        elif TEMPORARY_MARK in stripped:
            if kind is not FatalError:
                kind = TemporaryError
            last_error = stripped
        elif "ERROR" in stripped.upper()[:20] or stripped.startswith(("Error", "Traceback")) or "Error:" in stripped:
            last_error = stripped
            if kind is RetriableError and classify_message(stripped) is TemporaryError:
                kind = TemporaryError
    message = f"{command} exited with status {returncode}"
    if last_error:
        message += f" ({last_error})"
    return kind(message)
