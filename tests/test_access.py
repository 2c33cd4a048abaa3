"""What input may point at: link schemes, local folders (symbolic links resolved), storage roots."""

from __future__ import annotations

from pathlib import Path

import pytest

from geocube_ingest import storage
from geocube_ingest.access import (
    NotAllowed,
    check_link,
    check_payload,
    check_scene_data,
    check_source_name,
    check_storage_uri,
)
from geocube_ingest.errors import FatalError, FieldError, PayloadError
from geocube_ingest.payload import Payload
from geocube_ingest.settings import Settings


def settings_for(tmp_path: Path, **security: object) -> Settings:
    """The defaults of `security` (no folders, no extra roots), whatever the test session allows."""
    chosen = {"file_roots": [], "storage_roots": [], **security}
    return Settings(home=tmp_path / "home", security=chosen)  # type: ignore[arg-type]


def test_links_follow_the_allowed_schemes_only(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    for link in ("https://example.org/p.zip", "http://h/p", "s3://bucket/p.zip", "gs://bucket/p.zip"):
        assert check_link(link, settings) == link
    for link in (
        "file:///etc/passwd",
        "/etc/passwd",
        "etc/passwd",
        "local:///etc/passwd",
        "data://application/json;base64,e30=",
        "memory://x",
        "ftp://host/x",
        "zip://a::file:///etc/passwd.zip",
        "s3://bucket/x::file:///etc/passwd",
        "https://h/\x00",
        "",
    ):
        with pytest.raises(NotAllowed, match="not allowed"):
            check_link(link, settings)
    only_https = settings_for(tmp_path, url_schemes=["https"])
    with pytest.raises(NotAllowed, match="allowed schemes: https"):
        check_link("s3://bucket/p.zip", only_https)


def test_local_links_only_below_the_file_roots_with_links_resolved(tmp_path: Path) -> None:
    root = tmp_path / "products"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "p.zip").write_bytes(b"x")
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (root / "escape").symlink_to(outside)
    (tmp_path / "products-evil").mkdir()
    settings = settings_for(tmp_path, file_roots=[str(root)])
    assert check_link(str(root / "sub" / "p.zip"), settings)
    assert check_link((root / "sub" / "p.zip").as_uri(), settings)
    for link in (
        str(outside),
        outside.as_uri(),
        str(root / "escape"),  # a symbolic link inside the root leading out of it
        str(root / ".." / "secret.txt"),
        str(tmp_path / "products-evil" / "x"),  # a sibling whose name starts like the root
    ):
        with pytest.raises(NotAllowed):
            check_link(link, settings)
    # The answer is the same whether the place exists or not.
    messages = []
    for missing in (str(tmp_path / "nothing-here"), str(outside)):
        with pytest.raises(NotAllowed) as caught:
            check_link(missing, settings)
        messages.append(str(caught.value).replace(missing, "<path>"))
    assert messages[0] == messages[1]


def test_storage_uri_must_lie_under_an_allowed_root(tmp_path: Path) -> None:
    settings = Settings(
        storage_uri=str(tmp_path / "storage"),
        security={"storage_roots": ["s3://bucket/geocube", str(tmp_path / "more")]},  # type: ignore[arg-type]
    )
    for uri in (
        str(tmp_path / "storage"),
        str(tmp_path / "storage" / "aoi-1"),
        (tmp_path / "storage" / "x").as_uri(),
        str(tmp_path / "more" / "y"),
        "s3://bucket/geocube",
        "s3://bucket/geocube/team-a/",
        "s3a://bucket/geocube/team-b",
    ):
        assert check_storage_uri(uri, settings) == uri
    for uri in (
        str(tmp_path / "elsewhere"),
        str(tmp_path / "storage-2"),
        str(tmp_path / "storage" / ".." / "elsewhere"),
        "s3://bucket/geocube-2",
        "s3://bucket/geocube/../other",
        "s3://bucket/geocube//x",
        "s3://other-bucket/geocube",
        "gs://bucket/geocube",
        "memory://bucket/geocube",
        "s3://bucket/geocube/x?versionId=1",
    ):
        with pytest.raises(NotAllowed, match="not allowed"):
            check_storage_uri(uri, settings)


def test_storage_uri_through_a_symbolic_link_out_of_the_root(tmp_path: Path) -> None:
    (tmp_path / "storage").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "storage" / "link").symlink_to(tmp_path / "outside")
    settings = Settings(storage_uri=str(tmp_path / "storage"), security={"storage_roots": []})  # type: ignore[arg-type]
    with pytest.raises(NotAllowed):
        check_storage_uri(str(tmp_path / "storage" / "link" / "aoi"), settings)


def test_jobs_fail_on_a_storage_uri_outside_the_roots(tmp_path: Path) -> None:
    settings = Settings(storage_uri=str(tmp_path / "storage"), security={"storage_roots": []})  # type: ignore[arg-type]
    assert storage.resolve_storage_uri({"storage_uri": ""}, settings=settings) == str(tmp_path / "storage")
    with pytest.raises(FatalError, match="not allowed"):
        storage.resolve_storage_uri({"storage_uri": "/etc"}, settings=settings)


def test_source_names_are_single_segments() -> None:
    assert check_source_name("S2A_MSIL1C_X") == "S2A_MSIL1C_X"
    for name in ("../../etc/passwd", "/etc/passwd", "a/b", "a\\b", "..", ".", "", "a\x00b"):
        with pytest.raises(NotAllowed):
            check_source_name(name)


def test_payload_and_scene_data_name_each_bad_field(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    payload = Payload.parse(
        {
            "name": "A",
            "wkt": "POLYGON ((0 0, 1 0, 1 1, 0 1, 0 0))",
            "start_time": "2022-01-01T00:00:00Z",
            "end_time": "2022-02-01T00:00:00Z",
            "scene_type": {"constellation": "sentinel1"},
            "scene_graph_name": "Pass",
            "tile_graph_name": "Pass",
            "storage_uri": "/tmp/elsewhere",
            "annotations_urls": ["s3://bucket/{SCENE}.zip", "file:///etc/{SCENE}.xml"],
        }
    )
    with pytest.raises(PayloadError) as caught:
        check_payload(payload, settings)
    assert [field for field, _ in caught.value.problems] == ["storage_uri", "annotations_urls[1]"]
    data = {
        "storage_uri": "gs://elsewhere",
        "metadata": {
            "download_link": "file:///etc/passwd",
            "assets": {"B01": {"href": "https://ok.example/B01.jp2"}, "B02": {"href": "/etc/shadow"}},
            "annotations": ["s3://bucket/a.xml", "ftp://h/b.xml"],
        },
    }
    with pytest.raises(FieldError) as scene_error:
        check_scene_data(data, settings)
    assert [field for field, _ in scene_error.value.problems] == [
        "data.storage_uri",
        "data.metadata.download_link",
        "data.metadata.assets.B02.href",
        "data.metadata.annotations[1]",
    ]
