"""Retries with back-off for catalogue requests: 408/429/5xx and cut connections are retried, other 4xx are not."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from urllib3 import Retry

from geocube_ingest.errors import FatalError, TemporaryError
from geocube_ingest.settings import CatalogueSettings

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int
    backoff: float
    backoff_max: float
    timeout: float

    @classmethod
    def from_settings(cls, catalogue: CatalogueSettings, timeout: float | None = None) -> RetryPolicy:
        return cls(
            catalogue.max_retries,
            catalogue.backoff_seconds,
            catalogue.backoff_max_seconds,
            timeout or catalogue.timeout_seconds,
        )

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry number `attempt` (0-based): Retry-After if given, else doubling."""
        wait = self.backoff * (2**attempt)
        if retry_after:
            wait = _retry_after_seconds(retry_after, wait)
        return max(0.0, min(wait, self.backoff_max))

    def urllib3(self) -> Retry:
        """The same policy for requests-based clients (pystac-client)."""
        return Retry(
            total=self.max_retries,
            connect=self.max_retries,
            read=self.max_retries,
            status=self.max_retries,
            backoff_factor=self.backoff,
            backoff_max=self.backoff_max,
            status_forcelist=sorted(RETRY_STATUSES),
            allowed_methods=None,  # POST searches are idempotent reads
            raise_on_status=False,  # the last answer is reported as it is
            respect_retry_after_header=True,
        )


def _retry_after_seconds(value: str, default: float) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return moment.timestamp() - time.time()


def get_json(
    client: httpx.Client, url: str, policy: RetryPolicy, what: str, params: dict[str, Any] | None = None
) -> Any:
    """GET a JSON document; TemporaryError once retries are exhausted, FatalError on any other failure."""
    last: TemporaryError | None = None
    for attempt in range(policy.max_retries + 1):
        if attempt:
            time.sleep(policy.delay(attempt - 1, _retry_after(last)))
        try:
            response = client.get(url, params=params)
        except httpx.TransportError as exc:
            last = TemporaryError(f"{what}: {type(exc).__name__}: {exc}")
            log.info("%s (attempt %d)", last, attempt + 1)
            continue
        if response.status_code in RETRY_STATUSES:
            last = TemporaryError(f"{what}: HTTP {response.status_code}{_excerpt(response)}")
            last.retry_after = response.headers.get("Retry-After")  # type: ignore[attr-defined]
            log.info("%s (attempt %d)", last, attempt + 1)
            continue
        if response.status_code >= 400:
            raise FatalError(f"{what}: HTTP {response.status_code}{_excerpt(response)}")
        try:
            return response.json()
        except ValueError:
            raise FatalError(f"{what}: the answer is not JSON{_excerpt(response)}") from None
    assert last is not None
    raise last


def _retry_after(error: TemporaryError | None) -> str | None:
    return getattr(error, "retry_after", None)


def _excerpt(response: httpx.Response, size: int = 200) -> str:
    text = response.text.strip().replace("\n", " ")
    return f": {text[:size]}" if text else ""
