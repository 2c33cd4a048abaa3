"""Keep credentials out of messages: they end up in logs, the scene history and the API.

Two layers: URLs lose their user info and query string (signed URLs carry keys there),
and the known secret values of a provider (password, token, access tokens obtained at
run time) are replaced wherever they appear.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from geocube_ingest.settings import DownloadProviderSettings

_URL = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s'\"<>]*@)?(?P<rest>[^\s'\"<>]*)")
_MIN_SECRET = 4
MASK = "***"


def redact_url(url: str) -> str:
    """`url` without user info and query string (kept: scheme, host, path)."""
    match = _URL.fullmatch(url.strip())
    if not match:
        return url
    return _clean_match(match)


def _clean_match(match: re.Match[str]) -> str:
    rest = match.group("rest")
    if "?" in rest:
        rest = rest.split("?", 1)[0] + "?" + MASK
    return match.group("scheme") + rest


def redact_urls(text: str) -> str:
    return _URL.sub(_clean_match, text)


class Redactor:
    """Replaces a set of secret values (and URL secrets) in any text."""

    def __init__(self, secrets: list[str] | None = None):
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        for secret in secrets or []:
            self.add(secret)

    @classmethod
    def from_provider(cls, config: DownloadProviderSettings) -> Redactor:
        secrets = [s.get_secret_value() for s in (config.password, config.token) if s is not None]
        return cls(secrets)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= _MIN_SECRET:
            with self._lock:
                self._secrets.add(secret)

    def clean(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, MASK)
        return redact_urls(text)


class UrlRedactingFilter(logging.Filter):
    """Rewrites a library's log records without URL secrets (httpx logs every request URL at INFO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_urls(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = ()
        return True


_FILTERED_LOGGERS = ("httpx", "httpcore.http11", "httpcore.connection", "fsspec", "fsspec.http", "aiohttp.client")


def install_log_filters() -> None:
    """Attach the URL filter to the HTTP libraries' loggers (once)."""
    for name in _FILTERED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, UrlRedactingFilter) for f in logger.filters):
            logger.addFilter(UrlRedactingFilter())
