"""Catalogue requests over httpx under the shared retry policy (geocube_ingest.retry)."""

from __future__ import annotations

from typing import Any

import httpx

from geocube_ingest.errors import FatalError
from geocube_ingest.retry import RetryPolicy


def get_json(
    client: httpx.Client, url: str, policy: RetryPolicy, what: str, params: dict[str, Any] | None = None
) -> Any:
    """GET a JSON document; TemporaryError when the service is unreachable or retries run out,
    FatalError on any other failure."""
    response = policy.send(what, lambda: client.get(url, params=params))
    if response.status_code >= 400:
        raise FatalError(f"{what}: HTTP {response.status_code}{_excerpt(response)}")
    try:
        return response.json()
    except ValueError:
        raise FatalError(f"{what}: the answer is not JSON{_excerpt(response)}") from None


def _excerpt(response: httpx.Response, size: int = 200) -> str:
    text = response.text.strip().replace("\n", " ")
    return f": {text[:size]}" if text else ""
