"""The one retry policy: what is retried, how long it waits (Retry-After first), when it stops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from geocube_ingest.errors import TemporaryError
from geocube_ingest.retry import Retryable, RetryPolicy, retry_after_seconds, transport_error
from geocube_ingest.settings import Settings


def policy(max_retries: int = 3, backoff: float = 1.0, backoff_max: float = 10.0) -> tuple[RetryPolicy, list[float]]:
    slept: list[float] = []
    return RetryPolicy(max_retries, backoff, backoff_max, sleep=slept.append), slept


def failing(*errors: Exception, result: str = "ok") -> tuple[list[int], object]:
    calls: list[int] = []

    def action() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return calls, action


def test_back_off_doubles_up_to_the_longest() -> None:
    retry, slept = policy(max_retries=5, backoff=1.0, backoff_max=10.0)
    calls, action = failing(*[Retryable("HTTP 503") for _ in range(5)])
    assert retry.call(action, what="test") == "ok"  # type: ignore[arg-type]
    assert slept == [1.0, 2.0, 4.0, 8.0, 10.0] and len(calls) == 6


def test_retry_after_is_waited_and_retries_run_out() -> None:
    retry, slept = policy(max_retries=2)
    calls, action = failing(*[Retryable("HTTP 429", retry_after=3.0) for _ in range(5)])
    with pytest.raises(Retryable) as caught:
        retry.call(action, what="test")  # type: ignore[arg-type]
    assert slept == [3.0, 3.0] and len(calls) == 3 and caught.value.attempts == 3


def test_a_retry_after_beyond_the_longest_back_off_stops_at_once() -> None:
    retry, slept = policy(backoff_max=10.0)
    calls, action = failing(Retryable("HTTP 429", retry_after=3600.0))
    with pytest.raises(Retryable) as caught:
        retry.call(action, what="test")  # type: ignore[arg-type]
    assert slept == [] and len(calls) == 1 and caught.value.retry_after == 3600.0


def test_other_errors_are_not_retried() -> None:
    retry, slept = policy()
    calls, action = failing(TemporaryError("connection refused"))
    with pytest.raises(TemporaryError):
        retry.call(action, what="test")  # type: ignore[arg-type]
    assert len(calls) == 1 and slept == []


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds(" 0 ") == 0.0
    in_a_minute = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert 55 <= (retry_after_seconds(in_a_minute) or 0) <= 60
    assert retry_after_seconds(format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True)) == 0.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), False),
        (httpx.ConnectError("[Errno -2] Name or service not known"), False),
        (httpx.ConnectTimeout("timed out"), False),
        (httpx.ReadTimeout("timed out"), False),
        (httpx.ReadError("connection reset"), True),
        (httpx.RemoteProtocolError("server disconnected"), True),
    ],
)
def test_what_a_transport_failure_is(error: httpx.TransportError, retried: bool) -> None:
    """Unreachable or silent servers are not retried (they cost their time already); cut exchanges are."""
    found = transport_error(error, "GET x")
    assert isinstance(found, Retryable if retried else TemporaryError)


def test_each_client_has_its_settings() -> None:
    settings = Settings.model_validate(
        {
            "catalogue": {"max_retries": 1, "backoff_seconds": 2, "backoff_max_seconds": 3},
            "download": {"max_retries": 4, "backoff_seconds": 5, "backoff_max_seconds": 6},
            "index": {"stac_api_max_retries": 7, "stac_api_backoff_seconds": 8, "stac_api_backoff_max_seconds": 9},
        }
    )
    found = [RetryPolicy.for_catalogue(settings), RetryPolicy.for_download(settings)]
    found.append(RetryPolicy.for_stac_api(settings))
    assert [(p.max_retries, p.backoff, p.backoff_max) for p in found] == [(1, 2, 3), (4, 5, 6), (7, 8, 9)]
