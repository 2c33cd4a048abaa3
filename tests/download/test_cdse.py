"""Copernicus Data Space provider against a local server speaking its protocol.

The product entities are CDSE's recorded OData responses (fixtures/odata/cdse); the
server serves real product bytes (a zip of a recorded S2 SAFE) with their MD5.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from geocube_ingest.download.providers import ProductRequest, ResultKind, build_provider
from geocube_ingest.download.providers.cdse import TOKENS, CdseProvider, product_info
from geocube_ingest.errors import RetriableError
from geocube_ingest.settings import DownloadProviderSettings, Settings, load_settings
from tests.download.conftest import CDSE_PASSWORD, CDSE_USER, make_settings
from tests.download.servers import CdseServer

T54PXA = "05edf2bb-d103-49f1-a677-9e474138d84f"
T54PXA_NAME = "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505"


def cdse_config(server: CdseServer, **changes: Any) -> DownloadProviderSettings:
    values: dict[str, Any] = {
        "name": "cdse",
        "kind": "cdse",
        "url": server.odata_url,
        "token_url": server.token_url,
        "client_id": "cdse-public",
        "username": CDSE_USER,
        "password": SecretStr(CDSE_PASSWORD),
        "auth_domains": ["127.0.0.1"],
    }
    values.update(changes)
    return DownloadProviderSettings(**values)


def provider_for(server: CdseServer, tmp_path: Path, **changes: Any) -> tuple[CdseProvider, Settings]:
    config = cdse_config(server, **changes)
    settings = make_settings(tmp_path, config)
    provider = build_provider(config, settings)
    assert isinstance(provider, CdseProvider)
    return provider, settings


def request(uuid: str = T54PXA, name: str = T54PXA_NAME) -> ProductRequest:
    return ProductRequest(scene_id=1, source_id=name, uuid=uuid, date=datetime(2020, 8, 8, tzinfo=UTC))


def value_requests(server: CdseServer) -> list[Any]:
    return [r for r in server.requests if r.path.endswith("/$value")]


def test_the_recorded_entity_gives_size_and_md5(recorded_cdse_products: list[dict[str, Any]]) -> None:
    info = product_info(next(e for e in recorded_cdse_products if e["Id"] == T54PXA))
    assert info.name == f"{T54PXA_NAME}.SAFE"
    assert info.size == 224105657
    assert info.md5 == "923ac4992d90b57d41e7ace4d9d90757"
    assert info.online


def test_token_then_value_download_verified_by_md5(cdse_server: CdseServer, s2_zip: bytes, tmp_path: Path) -> None:
    cdse_server.serve(T54PXA, s2_zip)
    provider, _ = provider_for(cdse_server, tmp_path)
    try:
        result = provider.download(request(), tmp_path / "dl")
    finally:
        provider.close()
    assert result.kind is ResultKind.FOUND, result.message
    assert result.path == tmp_path / "dl" / f"{T54PXA_NAME}.zip"
    assert hashlib.md5(result.path.read_bytes()).hexdigest() == hashlib.md5(s2_zip).hexdigest()
    assert cdse_server.grants == ["password"]
    token_call = next(r for r in cdse_server.requests if r.method == "POST")
    assert b"grant_type=password" in token_call.body and b"client_id=cdse-public" in token_call.body
    (download,) = value_requests(cdse_server)
    assert download.path == f"/odata/v1/Products({T54PXA})/$value"
    assert download.headers["authorization"].startswith("Bearer access-1-")
    # The catalogue lookup needs no token.
    lookup = next(r for r in cdse_server.requests if r.path == f"/odata/v1/Products({T54PXA})")
    assert "authorization" not in lookup.headers


def test_token_is_cached_until_it_expires(cdse_server: CdseServer, s2_zip: bytes, tmp_path: Path) -> None:
    cdse_server.serve(T54PXA, s2_zip)
    for attempt in range(3):
        provider, _ = provider_for(cdse_server, tmp_path)  # a new job: the cache is per process
        try:
            assert provider.download(request(), tmp_path / f"dl{attempt}").kind is ResultKind.FOUND
        finally:
            provider.close()
    assert cdse_server.grants == ["password"]
    assert len({r.headers["authorization"] for r in value_requests(cdse_server)}) == 1


def test_expired_token_is_refreshed_with_the_refresh_grant(
    cdse_server: CdseServer, s2_zip: bytes, tmp_path: Path
) -> None:
    cdse_server.expires_in = 1
    cdse_server.serve(T54PXA, s2_zip)
    provider, _ = provider_for(cdse_server, tmp_path)
    try:
        assert provider.download(request(), tmp_path / "a").kind is ResultKind.FOUND
        time.sleep(1.1)
        assert provider.download(request(), tmp_path / "b").kind is ResultKind.FOUND
    finally:
        provider.close()
    assert cdse_server.grants == ["password", "refresh_token"]
    first, second = (r.headers["authorization"] for r in value_requests(cdse_server))
    assert first != second
    assert TOKENS.grants == {"password": 1, "refresh_token": 1}


def test_a_401_gets_a_new_token_once(cdse_server: CdseServer, s2_zip: bytes, tmp_path: Path) -> None:
    cdse_server.serve(T54PXA, s2_zip)
    provider, _ = provider_for(cdse_server, tmp_path)
    try:
        assert provider.download(request(), tmp_path / "a").kind is ResultKind.FOUND
        cdse_server.revoke_tokens()  # the cached token is now refused
        result = provider.download(request(), tmp_path / "b")
    finally:
        provider.close()
    assert result.kind is ResultKind.FOUND, result.message
    statuses = [r.headers["authorization"] for r in value_requests(cdse_server)]
    assert len(statuses) == 3  # ok, 401 with the old token, ok with the new one
    assert statuses[0] == statuses[1] != statuses[2]
    assert cdse_server.grants == ["password", "password"]


def test_wrong_credentials_are_fatal_for_this_provider(cdse_server: CdseServer, s2_zip: bytes, tmp_path: Path) -> None:
    cdse_server.serve(T54PXA, s2_zip)
    provider, _ = provider_for(cdse_server, tmp_path, password=SecretStr("not-the-password"))
    try:
        result = provider.download(request(), tmp_path / "dl")
    finally:
        provider.close()
    assert result.kind is ResultKind.FATAL
    assert "CDSE refused the credentials (HTTP 401: Invalid user credentials)" in result.message
    assert "not-the-password" not in result.message
    assert value_requests(cdse_server) == []


def test_md5_mismatch_is_not_accepted(cdse_server: CdseServer, s2_zip: bytes, tmp_path: Path) -> None:
    cdse_server.serve(T54PXA, s2_zip, md5="923ac4992d90b57d41e7ace4d9d90757")  # the real product's MD5
    provider, _ = provider_for(cdse_server, tmp_path)
    try:
        result = provider.download(request(), tmp_path / "dl")
    finally:
        provider.close()
    assert result.kind is ResultKind.FATAL
    assert isinstance(result.error, RetriableError)
    assert "923ac4992d90b57d41e7ace4d9d90757" in result.message
    assert list((tmp_path / "dl").iterdir()) == []


def test_a_corrupted_transfer_is_downloaded_again(cdse_server: CdseServer, s2_zip: bytes, tmp_path: Path) -> None:
    cdse_server.serve(T54PXA, s2_zip)
    cdse_server.failures[T54PXA].extend(["corrupt", 429, "drop"])
    provider, _ = provider_for(cdse_server, tmp_path)
    try:
        result = provider.download(request(), tmp_path / "dl")
    finally:
        provider.close()
    assert result.kind is ResultKind.FOUND, result.message
    assert result.path is not None and result.path.read_bytes() == s2_zip


def test_unknown_uuid_is_not_found_and_offline_is_temporary(
    cdse_server: CdseServer, s2_zip: bytes, tmp_path: Path
) -> None:
    provider, _ = provider_for(cdse_server, tmp_path)
    try:
        missing = provider.download(request("00000000-0000-0000-0000-000000000000", "S2B_NOT_THERE"), tmp_path / "a")
        cdse_server.serve(T54PXA, s2_zip)
        cdse_server.entities[T54PXA]["Online"] = False
        offline = provider.download(request(), tmp_path / "b")
    finally:
        provider.close()
    assert missing.kind is ResultKind.NOT_FOUND
    assert offline.kind is ResultKind.TEMPORARY and "offline" in offline.message
    assert value_requests(cdse_server) == []


def test_without_uuid_the_product_is_found_by_name(
    cdse_server: CdseServer, s2_zip: bytes, tmp_path: Path, recorded_cdse_products: list[dict[str, Any]]
) -> None:
    orbit = next(e for e in recorded_cdse_products if e["Name"].endswith(".EOF"))
    cdse_server.serve(orbit["Id"], s2_zip)
    provider, _ = provider_for(cdse_server, tmp_path)
    try:
        result = provider.download(request(uuid="", name=orbit["Name"]), tmp_path / "dl")
        nothing = provider.download(request(uuid="", name="S1A_NOT_IN_THE_CATALOGUE"), tmp_path / "dl2")
    finally:
        provider.close()
    assert result.kind is ResultKind.FOUND, result.message
    assert nothing.kind is ResultKind.NOT_FOUND
    search = next(r for r in cdse_server.requests if r.path.startswith("/odata/v1/Products?"))
    assert "Name+eq" in search.path or "Name%20eq" in search.path


def test_a_uuid_from_another_catalogue_falls_back_to_the_name(
    cdse_server: CdseServer, s2_zip: bytes, tmp_path: Path
) -> None:
    cdse_server.serve(T54PXA, s2_zip)
    provider, _ = provider_for(cdse_server, tmp_path)
    try:
        stac_id = provider.download(request(uuid="S2A_54PXA_20200808_0_L1C"), tmp_path / "a")
        unknown_uuid = provider.download(request(uuid="11111111-2222-3333-4444-555555555555"), tmp_path / "b")
    finally:
        provider.close()
    assert stac_id.kind is ResultKind.FOUND, stac_id.message
    assert unknown_uuid.kind is ResultKind.FOUND, unknown_uuid.message
    assert [r.path for r in value_requests(cdse_server)] == [f"/odata/v1/Products({T54PXA})/$value"] * 2


def test_missing_credentials_are_reported_not_raised(cdse_server: CdseServer, tmp_path: Path) -> None:
    provider, _ = provider_for(cdse_server, tmp_path, username=None, password=None)
    try:
        result = provider.download(request(), tmp_path / "dl")
    finally:
        provider.close()
    assert result.kind is ResultKind.FATAL
    assert "needs a username and a password" in result.message


def test_password_from_the_environment_as_the_readme_configures_it(
    cdse_server: CdseServer, s2_zip: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`password_env` in a `[[download.providers]]` entry of the TOML file: the token is asked with it."""
    cdse_server.serve(T54PXA, s2_zip)
    config = tmp_path / "config.toml"
    config.write_text(
        "[[download.providers]]\n"
        'name = "cdse"\nkind = "cdse"\n'
        f'url = "{cdse_server.odata_url}"\ntoken_url = "{cdse_server.token_url}"\nauth_domains = ["127.0.0.1"]\n'
        f'username = "{CDSE_USER}"\npassword_env = "MY_CDSE_PASSWORD"\n'
    )
    monkeypatch.setenv("GEOCUBE_INGEST_CONFIG", str(config))
    monkeypatch.setenv("MY_CDSE_PASSWORD", CDSE_PASSWORD)
    settings = load_settings(storage_uri=str(tmp_path / "storage"), work_dir=tmp_path / "work")
    (configured,) = settings.download.providers
    assert CDSE_PASSWORD not in repr(settings)
    provider = build_provider(configured, settings)
    try:
        result = provider.download(request(), tmp_path / "dl")
    finally:
        provider.close()
    assert result.kind is ResultKind.FOUND, result.message
    assert cdse_server.grants == ["password"]

    monkeypatch.delenv("MY_CDSE_PASSWORD")
    unset = load_settings(storage_uri=str(tmp_path / "storage"), work_dir=tmp_path / "work")
    provider = build_provider(unset.download.providers[0], unset)
    try:
        missing = provider.download(request(), tmp_path / "dl2")
    finally:
        provider.close()
    assert missing.kind is ResultKind.FATAL
    assert "the environment variable MY_CDSE_PASSWORD (password_env) is not set" in missing.message
