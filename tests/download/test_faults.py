"""Network faults end for downloads: a connection that is never established, a server that accepts and
never answers, one that sends headers and stalls the body, and a silent CDSE token endpoint.

Timeouts are short (1 s); `pytest.mark.timeout` turns a hang into a failure.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from geocube_ingest.download.http import HttpClient
from geocube_ingest.download.providers import ResultKind, build_provider
from geocube_ingest.download.providers.cdse import CdseProvider
from geocube_ingest.errors import TemporaryError
from geocube_ingest.settings import DownloadProviderSettings
from tests.download.conftest import make_settings
from tests.download.servers import CdseServer
from tests.download.test_cdse import cdse_config, request
from tests.silent import Mode, silent_server

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 1.0


@pytest.mark.parametrize(
    ("mode", "error", "tries"),
    [
        ("unconnectable", "ConnectTimeout", 1),  # the connect timeout ends it
        ("silent", "ReadTimeout", 1),  # the read timeout: no answer at all is not retried
        ("stall", "ReadTimeout", 3),  # a body that stops after some bytes: resumed, then given up
    ],
)
def test_a_download_that_never_completes_is_a_temporary_error(
    tmp_path: Path, mode: Mode, error: str, tries: int
) -> None:
    settings = make_settings(tmp_path, max_retries=2, connect_timeout_seconds=TIMEOUT)
    with silent_server(mode) as server, HttpClient(settings, timeout=TIMEOUT) as http:
        with pytest.raises(TemporaryError, match=error) as caught:
            http.download(server.url("/p.zip"), tmp_path / "out" / "p.zip")
        if mode != "unconnectable":
            assert server.connections == tries
    if tries > 1:
        assert f"gave up after {tries} attempts" in str(caught.value)
    assert list((tmp_path / "out").iterdir()) == []  # no partial file left


def test_a_silent_token_endpoint_is_temporary_for_the_cdse_provider(cdse_server: CdseServer, tmp_path: Path) -> None:
    with silent_server("silent") as token_server:
        config = cdse_config(cdse_server, token_url=token_server.url("/token"), timeout_seconds=TIMEOUT)
        settings = make_settings(tmp_path, config)
        provider = build_provider(config, settings)
        assert isinstance(provider, CdseProvider)
        try:
            result = provider.download(request(), tmp_path / "dest")
        finally:
            provider.close()
    assert result.kind is ResultKind.TEMPORARY
    assert "CDSE token request" in result.message and "ReadTimeout" in result.message
    assert token_server.connections == 1


def test_a_silent_cdse_catalogue_is_temporary(tmp_path: Path) -> None:
    with silent_server("stall") as server:
        config = DownloadProviderSettings(
            name="cdse",
            kind="cdse",
            url=server.url("/odata/v1"),
            token_url=server.url("/token"),
            username="user",
            password=SecretStr("password"),
            timeout_seconds=TIMEOUT,
        )
        provider = build_provider(config, make_settings(tmp_path, config))
        try:
            result = provider.download(request(), tmp_path / "dest")
        finally:
            provider.close()
    assert result.kind is ResultKind.TEMPORARY and "ReadTimeout" in result.message
