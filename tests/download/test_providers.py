"""Local tree, URL (http, s3, STAC assets) and ASF providers, each against real servers."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from geocube_ingest import storage
from geocube_ingest.download.providers import ProductRequest, ResultKind, build_provider, build_providers
from geocube_ingest.download.providers.asf import datapool_url
from geocube_ingest.download.providers.url import link_filename
from geocube_ingest.errors import InvalidInput
from geocube_ingest.settings import DownloadProviderSettings, Settings
from tests.download.conftest import S2_NAME, make_settings
from tests.download.servers import FileServer
from tests.storage.servers import S3Server

S1_SLC = "S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4"


def s2_request(**metadata: Any) -> ProductRequest:
    return ProductRequest(
        scene_id=1, source_id=S2_NAME, uuid="", date=datetime(2018, 1, 1, 10, 54, tzinfo=UTC), metadata=metadata
    )


def run(config: DownloadProviderSettings, settings: Settings, request: ProductRequest, destination: Path) -> Any:
    provider = build_provider(config, settings)
    try:
        return provider.download(request, destination)
    finally:
        provider.close()


# -- local ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layout", ["2018/01/01/{name}.zip", "{name}.zip", "{name}.SAFE", "2018/01/01/{name}.SAFE"], ids=str
)
def test_local_tree_layouts(layout: str, tmp_path: Path, s2_zip: bytes, s2_safe: Path) -> None:
    root = tmp_path / "archive"
    target = root / layout.format(name=S2_NAME)
    target.parent.mkdir(parents=True)
    if target.suffix == ".zip":
        target.write_bytes(s2_zip)
    else:  # a copy: a symbolic link leading out of the root is refused (tests/download/test_trust.py)
        shutil.copytree(s2_safe, target)
    config = DownloadProviderSettings(name="disk", kind="local", path=str(root))
    result = run(config, make_settings(tmp_path, config), s2_request(), tmp_path / "dl")
    assert result.kind is ResultKind.FOUND
    assert result.path == target  # used in place, never copied nor changed
    assert not (tmp_path / "dl").exists() or list((tmp_path / "dl").iterdir()) == []


def test_local_tree_without_the_product(tmp_path: Path) -> None:
    (tmp_path / "archive").mkdir()
    config = DownloadProviderSettings(name="disk", kind="local", path=str(tmp_path / "archive"))
    result = run(config, make_settings(tmp_path, config), s2_request(), tmp_path / "dl")
    assert result.kind is ResultKind.NOT_FOUND
    assert S2_NAME in result.message


def test_local_tree_on_s3_is_copied(s3_server: S3Server, tmp_path: Path, s2_zip: bytes) -> None:
    bucket = s3_server.new_bucket()
    settings = make_settings(tmp_path)
    settings = settings.model_copy(update={"s3": s3_server.settings()})
    storage.put_bytes(s2_zip, f"s3://{bucket}/products/2018/01/01/{S2_NAME}.zip", settings=settings)
    config = DownloadProviderSettings(name="bucket", kind="local", path=f"s3://{bucket}/products")
    result = run(config, settings, s2_request(), tmp_path / "dl")
    assert result.kind is ResultKind.FOUND, result.message
    assert result.path == tmp_path / "dl" / f"{S2_NAME}.zip"
    assert result.path.read_bytes() == s2_zip


def test_local_provider_needs_a_path(tmp_path: Path) -> None:
    config = DownloadProviderSettings(name="disk", kind="local")
    result = run(config, make_settings(tmp_path, config), s2_request(), tmp_path / "dl")
    assert result.kind is ResultKind.FATAL
    assert "needs a `path`" in result.message


# -- url ------------------------------------------------------------------------------


def test_download_link_over_http(file_server: FileServer, tmp_path: Path, s2_zip: bytes) -> None:
    link = file_server.add(f"/products/{S2_NAME}.zip", s2_zip)
    file_server.fail(f"/products/{S2_NAME}.zip", 500, "drop")
    config = DownloadProviderSettings(name="links", kind="url")
    request = s2_request(download_link=link, md5=hashlib.md5(s2_zip).hexdigest(), size=len(s2_zip))
    result = run(config, make_settings(tmp_path, config), request, tmp_path / "dl")
    assert result.kind is ResultKind.FOUND, result.message
    assert result.path == tmp_path / "dl" / f"{S2_NAME}.zip"
    assert result.path.read_bytes() == s2_zip


def test_download_link_on_s3(s3_server: S3Server, tmp_path: Path, s2_zip: bytes) -> None:
    bucket = s3_server.new_bucket()
    settings = make_settings(tmp_path).model_copy(update={"s3": s3_server.settings()})
    link = f"s3://{bucket}/eodata/{S2_NAME}.zip"
    storage.put_bytes(s2_zip, link, settings=settings)
    config = DownloadProviderSettings(name="links", kind="url")
    result = run(config, settings, s2_request(download_link=link), tmp_path / "dl")
    assert result.kind is ResultKind.FOUND, result.message
    assert result.path is not None and result.path.read_bytes() == s2_zip
    missing = run(config, settings, s2_request(download_link=link + ".nope"), tmp_path / "dl2")
    assert missing.kind is ResultKind.NOT_FOUND


def test_stac_asset_hrefs(file_server: FileServer, tmp_path: Path, fixtures_dir: Path) -> None:
    """The assets of a recorded Earth Search item, served locally under their own file names."""
    item = json.loads((fixtures_dir / "stac" / "earth_search" / "search_sentinel-2-l1c_limit1.json").read_text())
    feature = item["features"][0]
    assets: dict[str, Any] = {}
    contents: dict[str, bytes] = {}
    for key in ("blue", "red", "granule_metadata"):
        href = feature["assets"][key]["href"]
        name = href.rsplit("/", 1)[-1]
        contents[name] = f"{key} of {feature['id']}".encode() * 100
        assets[key] = {**feature["assets"][key], "href": file_server.add(f"/{feature['id']}/{name}", contents[name])}
    config = DownloadProviderSettings(name="stac", kind="url")
    request = ProductRequest(scene_id=1, source_id=feature["id"], metadata={"assets": assets})
    result = run(config, make_settings(tmp_path, config), request, tmp_path / "dl")
    assert result.kind is ResultKind.FOUND, result.message
    assert result.path == tmp_path / "dl" / feature["id"]
    assert {p.name: p.read_bytes() for p in result.path.iterdir()} == contents
    # Only some assets when configured.
    config = DownloadProviderSettings(name="stac", kind="url", options={"assets": ["red"]})
    result = run(config, make_settings(tmp_path, config), request, tmp_path / "dl2")
    assert [p.name for p in result.path.iterdir()] == [assets["red"]["href"].rsplit("/", 1)[-1]]


def test_no_link_means_not_found(tmp_path: Path) -> None:
    config = DownloadProviderSettings(name="links", kind="url")
    result = run(config, make_settings(tmp_path, config), s2_request(), tmp_path / "dl")
    assert result.kind is ResultKind.NOT_FOUND
    assert "no download_link nor assets" in result.message


def test_credentials_in_a_link_are_not_used(file_server: FileServer, tmp_path: Path) -> None:
    link = file_server.add("/p.zip", b"zip bytes")
    user_link = link.replace("http://", "http://someone:pa55word@")
    config = DownloadProviderSettings(name="links", kind="url")
    result = run(config, make_settings(tmp_path, config), s2_request(download_link=user_link), tmp_path / "dl")
    assert result.kind is ResultKind.FOUND
    assert "authorization" not in file_server.requests[-1].headers


def test_link_file_names() -> None:
    assert link_filename("https://h/a/b/P.zip?sig=1", "x") == "P.zip"
    assert link_filename("https://h/odata/v1/Products(1)/$value", "fallback") == "fallback"
    assert link_filename("s3://b/k/B04.tif", "x") == "B04.tif"
    assert link_filename("https://h/", "x") == "x"


# -- asf ------------------------------------------------------------------------------


def test_datapool_urls_follow_asf_layout(fixtures_dir: Path) -> None:
    recorded = (fixtures_dir / "asf" / "Fairbanks_SLC.yml").read_text()
    name = "S1B_IW_SLC__1SDV_20210102T032031_20210102T032058_024970_02F8C3_C081"
    assert datapool_url("https://datapool.asf.alaska.edu", name) in recorded
    grd = "S1B_IW_GRDH_1SDV_20211110T032039_20211110T032104_029520_0385E6_60DB"
    assert (
        datapool_url("https://datapool.asf.alaska.edu", grd) in (fixtures_dir / "asf" / "S1_response.yml").read_text()
    )


def test_asf_bearer_token_follows_asf_redirects(tmp_path: Path, s2_zip: bytes) -> None:
    datapool = FileServer("127.0.0.1").start()
    edl = FileServer("127.0.0.1").start()  # reached as "localhost": an Earthdata-like second host
    bucket = FileServer("127.0.0.2").start()  # the signed download URL
    try:
        bucket.add(f"/{S1_SLC}.zip", s2_zip)
        edl.redirect("/oauth", bucket.url(f"/{S1_SLC}.zip?X-Amz-Credential=k&X-Amz-Signature=s"))
        datapool.redirect(f"/SLC/SB/{S1_SLC}.zip", edl.url("/oauth", host="localhost"), status=307)
        config = DownloadProviderSettings(
            name="asf",
            kind="asf",
            url=datapool.url(""),
            token=SecretStr("edl-token-abcdef"),
            auth_domains=["localhost"],
        )
        request = ProductRequest(scene_id=1, source_id=S1_SLC)
        result = run(config, make_settings(tmp_path, config), request, tmp_path / "dl")
        assert result.kind is ResultKind.FOUND, result.message
        assert result.path is not None and result.path.read_bytes() == s2_zip
        assert datapool.requests[0].headers["authorization"] == "Bearer edl-token-abcdef"
        assert edl.requests[0].headers["authorization"] == "Bearer edl-token-abcdef"
        assert "authorization" not in bucket.requests[0].headers
    finally:
        for server in (datapool, edl, bucket):
            server.stop()


def test_asf_html_login_page_is_fatal_and_unknown_products_not_found(file_server: FileServer, tmp_path: Path) -> None:
    file_server.add(f"/SLC/SB/{S1_SLC}.zip", b"<html>Earthdata Login</html>", content_type="text/html")
    config = DownloadProviderSettings(name="asf", kind="asf", url=file_server.url(""), token=SecretStr("tok-xyz1"))
    settings = make_settings(tmp_path, config)
    login = run(config, settings, ProductRequest(scene_id=1, source_id=S1_SLC), tmp_path / "a")
    assert login.kind is ResultKind.FATAL and "HTML page" in login.message
    s2 = run(config, settings, s2_request(), tmp_path / "b")
    assert s2.kind is ResultKind.NOT_FOUND and "only serves Sentinel-1" in s2.message
    no_token = DownloadProviderSettings(name="asf", kind="asf", url=file_server.url(""))
    missing = run(no_token, settings, ProductRequest(scene_id=1, source_id=S1_SLC), tmp_path / "c")
    assert missing.kind is ResultKind.FATAL and "needs a token" in missing.message


# -- configuration --------------------------------------------------------------------


def test_provider_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="unknown download provider kind 'ftp'"):
        build_providers(make_settings(tmp_path, DownloadProviderSettings(name="x", kind="ftp")))
    twice = DownloadProviderSettings(name="same", kind="url")
    with pytest.raises(InvalidInput, match="unique: same"):
        build_providers(make_settings(tmp_path, twice, twice))
    with pytest.raises(InvalidInput, match="no download provider"):
        build_providers(make_settings(tmp_path))
    assert [p.kind for p in build_providers(Settings())] == ["url"]  # the default: the scene's own links
