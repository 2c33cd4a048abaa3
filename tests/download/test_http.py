"""Shared HTTP layer against a real server that misbehaves on demand."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from geocube_ingest.download.http import HttpClient, StaticBearer
from geocube_ingest.download.providers import ProductNotFound
from geocube_ingest.download.verify import VerificationError
from geocube_ingest.errors import FatalError, TemporaryError
from geocube_ingest.retry import RetryPolicy
from geocube_ingest.settings import Settings
from tests.download.conftest import make_settings
from tests.download.servers import FileServer

BODY = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, max_retries=3, chunk_bytes=64 * 1024)


@pytest.fixture
def client(settings: Settings) -> Iterator[HttpClient]:
    http = HttpClient(settings)
    yield http
    http.close()


def gets(server: FileServer, path: str) -> list[dict[str, str]]:
    return [r.headers for r in server.requests if r.method == "GET" and r.path == path]


def test_plain_download_is_verified_and_renamed(file_server: FileServer, client: HttpClient, tmp_path: Path) -> None:
    url = file_server.add("/p.zip", BODY)
    seen: list[tuple[int, int | None]] = []
    size = client.download(
        url,
        tmp_path / "out" / "p.zip",
        md5=hashlib.md5(BODY).hexdigest(),
        expected_size=len(BODY),
        progress=lambda d, t: seen.append((d, t)),
    )
    assert size == len(BODY)
    assert (tmp_path / "out" / "p.zip").read_bytes() == BODY
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["p.zip"]
    assert seen[-1] == (len(BODY), len(BODY))
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(seen))


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_temporary_statuses_are_retried(
    file_server: FileServer, client: HttpClient, tmp_path: Path, status: int
) -> None:
    url = file_server.add("/p.zip", BODY)
    file_server.fail("/p.zip", status, status)
    client.download(url, tmp_path / "p.zip")
    assert (tmp_path / "p.zip").read_bytes() == BODY
    assert len(gets(file_server, "/p.zip")) == 3


def test_retries_run_out_into_a_temporary_error_and_leave_nothing(
    file_server: FileServer, client: HttpClient, tmp_path: Path
) -> None:
    url = file_server.add("/p.zip", BODY)
    file_server.fail("/p.zip", 503, 503, 503, 503, 503)
    with pytest.raises(TemporaryError, match=r"HTTP 503.*gave up after 4 attempts"):
        client.download(url, tmp_path / "p.zip")
    assert len(gets(file_server, "/p.zip")) == 4
    assert list(tmp_path.glob("p.zip*")) == []


def test_dropped_connection_resumes_with_a_range_request(
    file_server: FileServer, client: HttpClient, tmp_path: Path
) -> None:
    url = file_server.add("/p.zip", BODY)
    file_server.fail("/p.zip", "drop")
    client.download(url, tmp_path / "p.zip", md5=hashlib.md5(BODY).hexdigest())
    assert hashlib.md5((tmp_path / "p.zip").read_bytes()).hexdigest() == hashlib.md5(BODY).hexdigest()
    first, second = gets(file_server, "/p.zip")
    assert "range" not in first
    start = int(second["range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < start < len(BODY)
    assert second["if-range"] == '"' + hashlib.md5(BODY).hexdigest() + '"'


def test_dropped_connection_without_range_support_restarts_from_zero(
    file_server: FileServer, client: HttpClient, tmp_path: Path
) -> None:
    url = file_server.add("/p.zip", BODY, ranges=False)
    file_server.fail("/p.zip", "drop", "drop")
    client.download(url, tmp_path / "p.zip", expected_size=len(BODY))
    assert (tmp_path / "p.zip").read_bytes() == BODY
    assert all("range" not in h for h in gets(file_server, "/p.zip"))


def test_wrong_size_or_checksum_is_downloaded_again(
    file_server: FileServer, client: HttpClient, tmp_path: Path
) -> None:
    url = file_server.add("/p.zip", BODY)
    file_server.fail("/p.zip", "truncate", "corrupt")
    client.download(url, tmp_path / "p.zip", md5=hashlib.md5(BODY).hexdigest())
    assert (tmp_path / "p.zip").read_bytes() == BODY
    assert len(gets(file_server, "/p.zip")) == 3


def test_wrong_size_against_the_providers_size(file_server: FileServer, client: HttpClient, tmp_path: Path) -> None:
    url = file_server.add("/p.zip", BODY)
    with pytest.raises(VerificationError, match=f"provider announced {len(BODY) + 5}"):
        client.download(url, tmp_path / "p.zip", expected_size=len(BODY) + 5)
    assert list(tmp_path.glob("p.zip*")) == []


def test_a_checksum_that_never_matches_is_retriable_not_temporary(
    file_server: FileServer, client: HttpClient, tmp_path: Path
) -> None:
    url = file_server.add("/p.zip", BODY)
    with pytest.raises(VerificationError, match="MD5"):
        client.download(url, tmp_path / "p.zip", md5="0" * 32)
    assert not isinstance(VerificationError("x"), TemporaryError)
    assert list(tmp_path.glob("p.zip*")) == []
    assert len(gets(file_server, "/p.zip")) == 4


def test_not_found_forbidden_and_unauthorized(file_server: FileServer, client: HttpClient, tmp_path: Path) -> None:
    with pytest.raises(ProductNotFound, match="HTTP 404"):
        client.download(file_server.url("/missing.zip"), tmp_path / "m.zip")
    file_server.add("/secret.zip", BODY, bearer="right-token")
    with pytest.raises(FatalError, match="access refused"):
        client.download(file_server.url("/secret.zip"), tmp_path / "s.zip")
    file_server.fail("/secret.zip", 403)
    bearer = HttpClient(make_settings(tmp_path), credentials=StaticBearer("right-token"))
    try:
        with pytest.raises(FatalError, match="HTTP 403"):
            bearer.download(file_server.url("/secret.zip"), tmp_path / "s.zip")
        bearer.download(file_server.url("/secret.zip"), tmp_path / "s.zip")
    finally:
        bearer.close()
    assert (tmp_path / "s.zip").read_bytes() == BODY
    # 401, 403, 403 then success: neither 401 nor 403 is retried.
    assert len(gets(file_server, "/secret.zip")) == 3


def test_authorization_follows_redirects_only_to_trusted_hosts(tmp_path: Path) -> None:
    origin = FileServer("127.0.0.1").start()
    trusted = FileServer("127.0.0.1").start()  # reached as "localhost": another host name
    storage = FileServer("127.0.0.2").start()  # a signed-URL store: must never see the token
    try:
        storage.add("/signed/p.zip", BODY)
        trusted.redirect("/auth/p.zip", storage.url("/signed/p.zip?X-Amz-Signature=abc"))
        origin.redirect("/p.zip", trusted.url("/auth/p.zip", host="localhost"), status=307)
        http = HttpClient(make_settings(tmp_path), credentials=StaticBearer("tok-123456"), auth_domains=["localhost"])
        try:
            http.download(origin.url("/p.zip"), tmp_path / "p.zip")
        finally:
            http.close()
        assert (tmp_path / "p.zip").read_bytes() == BODY
        assert origin.requests[0].headers["authorization"] == "Bearer tok-123456"
        assert trusted.requests[0].headers["authorization"] == "Bearer tok-123456"
        assert "authorization" not in storage.requests[0].headers
        # Without the trusted domain the token stops at the first host.
        http = HttpClient(make_settings(tmp_path), credentials=StaticBearer("tok-123456"))
        try:
            http.download(origin.url("/p.zip"), tmp_path / "q.zip")
        finally:
            http.close()
        assert "authorization" not in trusted.requests[-1].headers
    finally:
        for server in (origin, trusted, storage):
            server.stop()


def test_redirect_loops_are_fatal(file_server: FileServer, client: HttpClient, tmp_path: Path) -> None:
    file_server.redirect("/a", file_server.url("/b"))
    file_server.redirect("/b", file_server.url("/a"))
    with pytest.raises(FatalError, match="too many redirects"):
        client.download(file_server.url("/a"), tmp_path / "a")


def test_a_server_that_stops_sending_times_out_as_temporary(file_server: FileServer, tmp_path: Path) -> None:
    url = file_server.add("/slow.zip", BODY, chunk=1024, delay=2.0)
    http = HttpClient(make_settings(tmp_path, max_retries=1), timeout=0.3)
    try:
        with pytest.raises(TemporaryError, match="ReadTimeout"):
            http.download(url, tmp_path / "slow.zip")
    finally:
        http.close()
    assert list(tmp_path.glob("slow.zip*")) == []


def test_connection_refused_is_temporary(tmp_path: Path) -> None:
    http = HttpClient(make_settings(tmp_path, max_retries=1))
    try:
        with pytest.raises(TemporaryError, match="ConnectError"):
            http.download("http://127.0.0.1:9/p.zip", tmp_path / "p.zip")
    finally:
        http.close()


def test_retry_policy_backs_off_exponentially_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_retries=5, backoff=1.0, backoff_max=10.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert policy.delay(1, retry_after=3.0) == 3.0
    assert policy.delay(1, retry_after=3600.0) == 10.0


def test_get_json_retries_and_maps_statuses(file_server: FileServer, client: HttpClient) -> None:
    file_server.add("/doc.json", b'{"a": 1}', content_type="application/json")
    file_server.fail("/doc.json", 429, 500)
    assert client.get_json(file_server.url("/doc.json")) == {"a": 1}
    with pytest.raises(ProductNotFound):
        client.get_json(file_server.url("/nothing.json"))
