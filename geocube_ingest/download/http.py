"""HTTP for providers: retries with back-off, redirects that keep credentials where trusted,
and streamed downloads that are verified before they are given a final name.

- 408, 425, 429, 5xx, time-outs and dropped connections are temporary: retried with an
  exponential back-off (Retry-After honoured, capped); when retries run out the caller
  gets a TemporaryError (the task is given back, not failed).
- 401 asks the credentials for a fresh token once, then is fatal; 403 is fatal; 404 and
  410 mean "not found" (the next provider is tried); any other 4xx is fatal.
- Redirects are followed by hand: the Authorization header goes to the original host
  and to `auth_domains` only (a signed storage URL must not receive it).
- A download streams to `<target>.part`, resumes with a Range request after a dropped
  connection when the server allows it, is checked (size, MD5) and only then renamed.
"""

from __future__ import annotations

import email.utils
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx

from geocube_ingest.access import protocol_of
from geocube_ingest.download.providers.base import ProductNotFound, Progress
from geocube_ingest.download.redact import Redactor, install_log_filters, redact_url
from geocube_ingest.download.verify import VerificationError, md5_of
from geocube_ingest.errors import FatalError, TemporaryError
from geocube_ingest.settings import Settings

log = logging.getLogger(__name__)
install_log_filters()

T = TypeVar("T")

TEMPORARY_STATUSES = frozenset({408, 425, 429})
NOT_FOUND_STATUSES = frozenset({404, 410})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
USER_AGENT = "geocube-ingest"


class Credentials(Protocol):
    """Gives the Authorization header value; `refresh` after a 401 says whether to try again."""

    def authorization(self) -> str | None: ...

    def refresh(self) -> bool: ...


class StaticBearer:
    """A fixed bearer token (ASF/Earthdata): nothing to refresh."""

    def __init__(self, token: str):
        self._token = token

    def __repr__(self) -> str:
        return "StaticBearer(***)"

    def authorization(self) -> str | None:
        return f"Bearer {self._token}"

    def refresh(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 3
    backoff: float = 2.0
    backoff_max: float = 120.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        d = settings.download
        return cls(d.max_retries, d.backoff_seconds, d.backoff_max_seconds)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        wanted = retry_after if retry_after is not None else self.backoff * 2 ** (attempt - 1)
        return max(0.0, min(wanted, self.backoff_max))


class _Temporary(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class _Corrupt(Exception):
    """The transfer completed but the file is not the product (size or checksum)."""


class _Unauthorized(Exception):
    pass


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    parsed = email.utils.parsedate_to_datetime(value) if value else None
    if parsed is None:
        return None
    return max(0.0, parsed.timestamp() - time.time())


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _domain_match(host: str, domains: Iterable[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in (d.lower().lstrip(".") for d in domains))


class HttpClient:
    """One provider's HTTP connection pool, with its retry policy and credentials."""

    def __init__(
        self,
        settings: Settings,
        *,
        timeout: float | None = None,
        credentials: Credentials | None = None,
        auth_domains: Iterable[str] = (),
        redactor: Redactor | None = None,
        policy: RetryPolicy | None = None,
    ):
        d = settings.download
        self.policy = policy or RetryPolicy.from_settings(settings)
        self.chunk_bytes = d.chunk_bytes
        self.credentials = credentials
        self.auth_domains = tuple(auth_domains)
        self.redactor = redactor or Redactor()
        # A redirect may only lead to HTTP(S) the operator allows (never to file:// or another scheme).
        self.redirect_schemes = frozenset(settings.security.url_schemes) & {"http", "https"}
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout or d.timeout_seconds, connect=d.connect_timeout_seconds),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )

    def __repr__(self) -> str:
        return f"HttpClient(auth={'yes' if self.credentials else 'no'}, domains={self.auth_domains!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ---------------------------------------------------------------------

    def _send(
        self, method: str, url: str, *, headers: dict[str, str] | None = None, stream: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """Send with manual redirects; transport failures become _Temporary."""
        origin = _host(url)
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            request_headers = dict(headers or {})
            host = _host(current)
            if self.credentials is not None and (host == origin or _domain_match(host, self.auth_domains)):
                value = self.credentials.authorization()
                if value:
                    self.redactor.add(value.split(" ", 1)[-1])
                    request_headers["Authorization"] = value
            try:
                request = self._client.build_request(method, current, headers=request_headers, **kwargs)
                response = self._client.send(request, stream=stream)
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise FatalError(f"cannot download {redact_url(current)}: {exc}") from None
            except httpx.TransportError as exc:
                raise _Temporary(f"{type(exc).__name__} on {redact_url(current)}: {exc}") from None
            if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
                response.close()
                current = urljoin(current, response.headers["location"])
                if protocol_of(current) not in self.redirect_schemes:
                    raise FatalError(f"{redact_url(url)} redirects to {redact_url(current)}: not allowed")
                if response.status_code == 303:
                    method = "GET"
                    kwargs.pop("data", None)
                    kwargs.pop("content", None)
                continue
            return response
        raise FatalError(f"too many redirects from {redact_url(url)}")

    def _check(self, response: httpx.Response, what: str) -> None:
        status = response.status_code
        if status < 300:
            return
        where = redact_url(str(response.request.url))
        if status in TEMPORARY_STATUSES or status >= 500:
            raise _Temporary(f"HTTP {status} from {where}", _retry_after(response))
        if status in NOT_FOUND_STATUSES:
            raise ProductNotFound(f"{what}: not found (HTTP {status} from {where})")
        if status == 401:
            raise _Unauthorized(f"HTTP 401 from {where}")
        if status == 403:
            raise FatalError(f"{what}: access forbidden (HTTP 403 from {where})")
        raise FatalError(f"{what}: HTTP {status} from {where}")

    def _retrying(self, what: str, action: Callable[[], T]) -> T:
        """Run `action` until it succeeds, retrying temporary failures with back-off."""
        refreshed = False
        attempt = 0
        while True:
            try:
                return action()
            except _Unauthorized as exc:
                if not refreshed and self.credentials is not None and self.credentials.refresh():
                    refreshed = True
                    log.info("%s: credentials refreshed after HTTP 401", what)
                    continue
                raise FatalError(f"{what}: access refused ({exc}); check the provider's credentials") from None
            except (_Temporary, _Corrupt) as exc:
                attempt += 1
                if attempt > self.policy.max_retries:
                    message = f"{what}: {exc} (gave up after {attempt} attempts)"
                    if isinstance(exc, _Corrupt):
                        raise VerificationError(message) from None
                    raise TemporaryError(message) from None
                delay = self.policy.delay(attempt, exc.retry_after if isinstance(exc, _Temporary) else None)
                log.info("%s: %s; retry %d in %.1f s", what, self.redactor.clean(str(exc)), attempt, delay)
                time.sleep(delay)

    def get_json(self, url: str, *, what: str = "request", params: dict[str, str] | None = None) -> Any:
        def action() -> Any:
            response = self._send("GET", url, params=params, headers={"Accept": "application/json"})
            try:
                self._check(response, what)
                return response.json()
            except ValueError:
                raise _Temporary(f"invalid JSON from {redact_url(url)}") from None
            finally:
                response.close()

        return self._retrying(what, action)

    def post_form(self, url: str, data: dict[str, str], *, what: str = "request") -> httpx.Response:
        """POST a form (no credentials header: token endpoints take them in the body)."""

        def action() -> httpx.Response:
            try:
                request = self._client.build_request("POST", url, data=data, headers={"Accept": "application/json"})
                response = self._client.send(request)
            except httpx.TransportError as exc:
                raise _Temporary(f"{type(exc).__name__} on {redact_url(url)}") from None
            if response.status_code in TEMPORARY_STATUSES or response.status_code >= 500:
                raise _Temporary(f"HTTP {response.status_code} from {redact_url(url)}", _retry_after(response))
            return response

        return self._retrying(what, action)

    # -- downloads --------------------------------------------------------------------

    def download(
        self,
        url: str,
        target: Path,
        *,
        what: str = "download",
        expected_size: int | None = None,
        md5: str | None = None,
        progress: Progress | None = None,
        reject_html: bool = False,
    ) -> int:
        """Stream `url` to `target` (verified, then renamed); returns the number of bytes."""
        transfer = _Transfer(self, url, Path(target), what, expected_size, md5, progress, reject_html)
        try:
            size = self._retrying(what, transfer.attempt)
        finally:
            transfer.part.unlink(missing_ok=True)
        return size


class _Transfer:
    """State of one download across attempts (what is on disk, what the server said)."""

    def __init__(
        self,
        client: HttpClient,
        url: str,
        target: Path,
        what: str,
        expected_size: int | None,
        md5: str | None,
        progress: Progress | None,
        reject_html: bool,
    ):
        self.client = client
        self.url = url
        self.target = target
        self.part = target.with_name(target.name + ".part")
        self.what = what
        self.expected_size = expected_size if expected_size else None
        self.md5 = md5.lower() if md5 else None
        self.progress = progress
        self.reject_html = reject_html
        self.received = 0
        self.validator: str | None = None  # ETag / Last-Modified of the partial content
        self.resumable = False
        target.parent.mkdir(parents=True, exist_ok=True)
        self.part.unlink(missing_ok=True)

    def _headers(self) -> dict[str, str]:
        headers = {"Accept-Encoding": "identity"}
        if self.received and self.resumable:
            headers["Range"] = f"bytes={self.received}-"
            if self.validator:
                headers["If-Range"] = self.validator
        return headers

    def attempt(self) -> int:
        response = self.client._send("GET", self.url, headers=self._headers(), stream=True)
        try:
            self.client._check(response, self.what)
            append = self._resume_accepted(response)
            if not append:
                self.received = 0
            total = self._total(response, append)
            if self.reject_html and response.headers.get("content-type", "").startswith("text/html"):
                raise FatalError(f"{self.what}: got an HTML page instead of the product (a login page?)")
            self.resumable = response.headers.get("accept-ranges", "").lower() == "bytes" or append
            self.validator = response.headers.get("etag") or response.headers.get("last-modified")
            self._stream(response, append, total)
        finally:
            response.close()
        return self._finish(total)

    def _resume_accepted(self, response: httpx.Response) -> bool:
        if response.status_code != 206 or not self.received:
            if response.status_code == 206:
                raise FatalError(f"{self.what}: the server sent a part of the file that was not asked for")
            return False
        content_range = response.headers.get("content-range", "")
        try:
            start = int(content_range.split(" ", 1)[1].split("-", 1)[0])
        except (IndexError, ValueError):
            raise _Temporary(f"invalid Content-Range {content_range!r}") from None
        if start != self.received:
            raise _Temporary(f"the server resumed at byte {start} instead of {self.received}")
        return True

    def _total(self, response: httpx.Response, append: bool) -> int | None:
        length = response.headers.get("content-length")
        if length and length.isdigit() and not response.headers.get("content-encoding"):
            return int(length) + (self.received if append else 0)
        return self.expected_size

    def _stream(self, response: httpx.Response, append: bool, total: int | None) -> None:
        with self.part.open("ab" if append else "wb") as out:
            try:
                for chunk in response.iter_bytes(self.client.chunk_bytes):
                    out.write(chunk)
                    self.received += len(chunk)
                    if self.progress is not None:
                        self.progress(self.received, total)
            except httpx.TransportError as exc:
                out.flush()
                raise _Temporary(
                    f"{type(exc).__name__} after {self.received} bytes of {redact_url(self.url)}: "
                    f"{self.client.redactor.clean(str(exc))}"
                ) from None
            out.flush()
            os.fsync(out.fileno())

    def _finish(self, total: int | None) -> int:
        size = self.part.stat().st_size
        if total is not None and size < total:
            raise _Temporary(f"connection closed after {size} of {total} bytes")
        if total is not None and size != total:
            self._restart()
            raise _Corrupt(f"received {size} bytes, the server announced {total}")
        if self.expected_size is not None and size != self.expected_size:
            self._restart()
            raise _Corrupt(f"received {size} bytes, the provider announced {self.expected_size}")
        if self.md5 is not None:
            digest = md5_of(self.part)
            if digest != self.md5:
                self._restart()
                raise _Corrupt(f"MD5 {digest} differs from the provider's {self.md5}")
        os.replace(self.part, self.target)
        return size

    def _restart(self) -> None:
        self.received = 0
        self.resumable = False
        self.part.unlink(missing_ok=True)
