"""The one retry policy of every outbound HTTP call: catalogues, downloads, the STAC push.

What is retried, with exponential back-off (tenacity), at most `max_retries` times:
- answers that say "try again": 408, 425, 429 and 5xx, after the server's `Retry-After`
  (seconds or an HTTP date) when it gives one. When it asks for longer than the longest
  back-off, the call gives up at once: the caller's TemporaryError hands the work back
  for later instead of hammering the server early;
- exchanges cut half way (connection reset or closed mid-answer, a download body that
  stops flowing after its headers): the next try resumes or starts again.
What is not: a server that cannot be reached (DNS failure, connection refused, connect
timeout) or that does not answer within the timeout. Those cost their full time already;
the caller moves on (the next catalogue, the task given back), so an offline machine fails
in seconds and a silent server in one timeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from geocube_ingest.errors import TemporaryError

if TYPE_CHECKING:
    from geocube_ingest.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

# "Try again" answers, with every 5xx (see is_retry_status).
RETRY_STATUSES = frozenset({408, 425, 429})
# Exchanges that started and were cut: worth another try.
_CUT = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


class Retryable(Exception):
    """A failure worth another try; `retry_after` is what the server asked for (seconds)."""

    def __init__(self, message: str, retry_after: float | None = None, response: Any = None):
        super().__init__(message)
        self.retry_after = retry_after
        self.response = response  # the last answer, for clients that report it as it is
        self.attempts = 1


def is_retry_status(status: int) -> bool:
    return status in RETRY_STATUSES or status >= 500


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` in seconds from now: a number of seconds or an HTTP date; None when absent or unreadable."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def transport_error(exc: httpx.TransportError, message: str) -> Exception:
    """What an httpx transport failure is: Retryable when the exchange was cut, else a TemporaryError now."""
    if isinstance(exc, _CUT):
        return Retryable(message)
    return TemporaryError(message)


def check_status(response: httpx.Response, what: str) -> httpx.Response:
    """Raise Retryable for a "try again" answer (its body read, for the message); the response otherwise."""
    if is_retry_status(response.status_code):
        response.read()
        text = response.text.strip().replace("\n", " ")[:200]
        raise Retryable(
            f"{what}: HTTP {response.status_code}{': ' + text if text else ''}",
            retry_after_seconds(response.headers.get("Retry-After")),
        )
    return response


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 3
    backoff: float = 1.0
    backoff_max: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    @classmethod
    def for_catalogue(cls, settings: Settings) -> RetryPolicy:
        c = settings.catalogue
        return cls(c.max_retries, c.backoff_seconds, c.backoff_max_seconds)

    @classmethod
    def for_download(cls, settings: Settings) -> RetryPolicy:
        d = settings.download
        return cls(d.max_retries, d.backoff_seconds, d.backoff_max_seconds)

    @classmethod
    def for_stac_api(cls, settings: Settings) -> RetryPolicy:
        i = settings.index
        return cls(i.stac_api_max_retries, i.stac_api_backoff_seconds, i.stac_api_backoff_max_seconds)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before retry number `attempt` (1-based): Retry-After when given, else doubling; capped."""
        wanted = retry_after if retry_after is not None else self.backoff * 2 ** (attempt - 1)
        return min(max(wanted, 0.0), self.backoff_max)

    def _wait(self, state: RetryCallState) -> float:
        return self.delay(state.attempt_number, _retry_after(state))

    def _stop(self, state: RetryCallState) -> bool:
        if stop_after_attempt(self.max_retries + 1)(state):
            return True
        wanted = _retry_after(state)
        return wanted is not None and wanted > self.backoff_max

    def call(self, action: Callable[[], T], *, what: str, clean: Callable[[str], str] = str) -> T:
        """`action()`, tried again while it raises Retryable; the last Retryable (with `attempts`) when they run out.

        Any other exception ends the call at once. `clean` takes secrets out of logged messages.
        """

        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            seconds = state.upcoming_sleep
            log.info("%s: %s; retry %d in %.1f s", what, clean(str(error)), state.attempt_number, seconds)

        retrying = Retrying(
            sleep=self.sleep,
            stop=self._stop,
            wait=self._wait,
            retry=retry_if_exception_type(Retryable),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(action)
        except Retryable as exc:
            exc.attempts = int(retrying.statistics.get("attempt_number", 1))
            raise

    def send(self, what: str, request: Callable[[], httpx.Response]) -> httpx.Response:
        """One httpx exchange: the first answer that is not "try again" (any status), else a TemporaryError."""

        def attempt() -> httpx.Response:
            try:
                response = request()
            except httpx.TransportError as exc:
                raise transport_error(exc, f"{what}: {type(exc).__name__}: {exc}") from None
            return check_status(response, what)

        try:
            return self.call(attempt, what=what)
        except Retryable as exc:
            raise TemporaryError(f"{exc} {gave_up(exc)}", exc.retry_after) from None


def gave_up(exc: Retryable) -> str:
    """The end of a TemporaryError's message: how many tries, and what the server asked for."""
    asked = f"; the server asks to wait {exc.retry_after:.0f} s" if exc.retry_after else ""
    return f"(gave up after {exc.attempts} attempt{'s' * (exc.attempts != 1)}{asked})"


def _retry_after(state: RetryCallState) -> float | None:
    error = state.outcome.exception() if state.outcome is not None else None
    return error.retry_after if isinstance(error, Retryable) else None
