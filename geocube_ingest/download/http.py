"""HTTP for providers: the shared retry policy, credentials kept to trusted hosts across
redirects, and streamed downloads that are verified before they are given a final name.

- Retries follow geocube_ingest.retry (408/425/429/5xx with Retry-After, cut transfers);
  when they run out, or the server cannot be reached, the caller gets a TemporaryError
  (the task is given back, not failed).
- 401 asks the credentials for a fresh token once (an httpx Auth flow), then is fatal;
  403 is fatal; 404 and 410 mean "not found" (the next provider is tried); any other 4xx
  is fatal.
- httpx follows redirects; the Authorization header goes to the request's first host and
  to `auth_domains` only, on every hop (a signed storage URL must not receive it). A hop
  may only lead to the http(s) schemes the operator allows (`security.url_schemes`).
- A download streams to `<target>.part`, resumes with a Range request when the body is cut
  or stops flowing (the read timeout), is checked (size, MD5) and only then renamed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx

from geocube_ingest.download.providers.base import ProductNotFound, Progress
from geocube_ingest.download.redact import Redactor, install_log_filters, redact_url
from geocube_ingest.download.verify import VerificationError, md5_of
from geocube_ingest.errors import FatalError, TemporaryError
from geocube_ingest.retry import Retryable, RetryPolicy, check_status, gave_up, transport_error
from geocube_ingest.settings import Settings

log = logging.getLogger(__name__)
install_log_filters()

T = TypeVar("T")

NOT_FOUND_STATUSES = frozenset({404, 410})
MAX_REDIRECTS = 10
USER_AGENT = "geocube-ingest"
_ORIGIN = "geocube_ingest.origin"  # request extension: the host a request was first sent to
_FIRST = "geocube_ingest.first_url"  # request extension: the URL asked for, before any redirect


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


def _domain_match(host: str, domains: Iterable[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in (d.lower().lstrip(".") for d in domains))


class ScopedAuth(httpx.Auth):
    """Credentials for the host a request is sent to and for `auth_domains`, nowhere else.

    The flow notes the first host and, after a 401, asks the credentials for a fresh token
    once. `place` is a request hook: httpx calls it on every hop of a redirect chain, where
    it sets the header on trusted hosts and removes it from any other.
    """

    def __init__(self, credentials: Credentials, auth_domains: Iterable[str], redactor: Redactor):
        self.credentials = credentials
        self.auth_domains = tuple(auth_domains)
        self.redactor = redactor

    def __repr__(self) -> str:
        return f"ScopedAuth(domains={self.auth_domains!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.extensions = {**request.extensions, _ORIGIN: (request.url.host or "").lower()}
        response = yield request
        if response.status_code == 401 and self.credentials.refresh():
            log.info("credentials refreshed after HTTP 401 from %s", redact_url(str(response.request.url)))
            yield request

    def place(self, request: httpx.Request) -> None:
        origin = request.extensions.get(_ORIGIN)
        if origin is None:  # not sent through this auth (e.g. auth=None)
            return
        host = (request.url.host or "").lower()
        if host == origin or _domain_match(host, self.auth_domains):
            value = self.credentials.authorization()
            if value:
                self.redactor.add(value.split(" ", 1)[-1])
                request.headers["Authorization"] = value
                return
        request.headers.pop("Authorization", None)


class _Corrupt(Retryable):
    """The transfer completed but the file is not the product (size or checksum)."""


class HttpClient:
    """One provider's HTTP connection pool, with the retry policy and its credentials."""

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
        self.policy = policy or RetryPolicy.for_download(settings)
        self.chunk_bytes = d.chunk_bytes
        self.credentials = credentials
        self.auth_domains = tuple(auth_domains)
        self.redactor = redactor or Redactor()
        self.auth = ScopedAuth(credentials, self.auth_domains, self.redactor) if credentials is not None else None
        # A redirect may only lead to HTTP(S) the operator allows (never to file:// or another scheme).
        self.redirect_schemes = frozenset(settings.security.url_schemes) & {"http", "https"}
        hooks = [self._allowed_hop] + ([self.auth.place] if self.auth is not None else [])
        self._client = httpx.Client(
            # Connect, read (a body that stops flowing), write and pool waits are all bounded.
            timeout=httpx.Timeout(timeout or d.timeout_seconds, connect=d.connect_timeout_seconds),
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            headers={"User-Agent": USER_AGENT},
            auth=self.auth,
            event_hooks={"request": hooks},
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

    def _allowed_hop(self, request: httpx.Request) -> None:
        first = request.extensions.get(_FIRST)
        if first is not None and request.url != first and request.url.scheme not in self.redirect_schemes:
            raise FatalError(f"{redact_url(str(first))} redirects to {redact_url(str(request.url))}: not allowed")

    def _send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        stream: bool = False,
        credentials: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send (redirects followed); transport failures become Retryable or TemporaryError."""
        try:
            request = self._client.build_request(
                method, url, headers=headers, extensions={_FIRST: httpx.URL(url)}, **kwargs
            )
            if credentials:
                return self._client.send(request, stream=stream)
            return self._client.send(request, stream=stream, auth=None)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise FatalError(f"cannot download {redact_url(url)}: {exc}") from None
        except httpx.TooManyRedirects:
            raise FatalError(f"too many redirects from {redact_url(url)}") from None
        except httpx.TransportError as exc:
            where = redact_url(str(exc.request.url)) if _has_request(exc) else redact_url(url)
            raise transport_error(exc, f"{type(exc).__name__} on {where}: {self.redactor.clean(str(exc))}") from None

    def _check(self, response: httpx.Response, what: str) -> None:
        status = response.status_code
        if status < 300:
            return
        where = redact_url(str(response.request.url))
        check_status(response, where)
        if status in NOT_FOUND_STATUSES:
            raise ProductNotFound(f"{what}: not found (HTTP {status} from {where})")
        if status == 401:
            raise FatalError(f"{what}: access refused (HTTP 401 from {where}); check the provider's credentials")
        if status == 403:
            raise FatalError(f"{what}: access forbidden (HTTP 403 from {where})")
        raise FatalError(f"{what}: HTTP {status} from {where}")

    def _retrying(self, what: str, action: Callable[[], T]) -> T:
        """Run `action` under the retry policy; what is left when retries run out is temporary."""
        try:
            return self.policy.call(action, what=what, clean=self.redactor.clean)
        except _Corrupt as exc:
            raise VerificationError(f"{what}: {exc} {gave_up(exc)}") from None
        except Retryable as exc:
            raise TemporaryError(f"{what}: {self.redactor.clean(str(exc))} {gave_up(exc)}", exc.retry_after) from None
        except TemporaryError as exc:  # unreachable, or silent: not retried
            raise TemporaryError(f"{what}: {exc}", exc.retry_after) from None

    def get_json(self, url: str, *, what: str = "request", params: dict[str, str] | None = None) -> Any:
        def action() -> Any:
            response = self._send("GET", url, params=params, headers={"Accept": "application/json"})
            try:
                self._check(response, what)
                return response.json()
            except ValueError:
                raise Retryable(f"invalid JSON from {redact_url(url)}") from None
            finally:
                response.close()

        return self._retrying(what, action)

    def post_form(self, url: str, data: dict[str, str], *, what: str = "request") -> httpx.Response:
        """POST a form (no credentials header: token endpoints take them in the body)."""

        def action() -> httpx.Response:
            response = self._send("POST", url, data=data, headers={"Accept": "application/json"}, credentials=False)
            return check_status(response, redact_url(url))

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
            raise Retryable(f"invalid Content-Range {content_range!r}") from None
        if start != self.received:
            raise Retryable(f"the server resumed at byte {start} instead of {self.received}")
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
                # The server answered, then the body was cut or stopped flowing: resume.
                raise Retryable(
                    f"{type(exc).__name__} after {self.received} bytes of {redact_url(self.url)}: "
                    f"{self.client.redactor.clean(str(exc))}"
                ) from None
            out.flush()
            os.fsync(out.fileno())

    def _finish(self, total: int | None) -> int:
        size = self.part.stat().st_size
        if total is not None and size < total:
            raise Retryable(f"connection closed after {size} of {total} bytes")
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


def _has_request(exc: httpx.TransportError) -> bool:
    try:
        exc.request  # noqa: B018 (raises when the error was not tied to a request)
    except RuntimeError:
        return False
    return True
