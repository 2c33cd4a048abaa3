"""Reading Sentinel-1 annotations from a SAFE folder, a zip (local, HTTP, S3) and annotations_urls patterns;
remote zips are read with range requests, never downloaded whole."""

from __future__ import annotations

import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from geocube_ingest.catalogue.models import CatalogueScene
from geocube_ingest.catalogue.s1.scene import annotation_urls, find_annotations, scene_bursts
from geocube_ingest.catalogue.s1.sources import read_files, read_source, select_members
from geocube_ingest.errors import InvalidInput, NotFound, TemporaryError
from geocube_ingest.settings import Settings
from tests.catalogue.conftest import s3_settings
from tests.catalogue.servers import StaticFiles

NAME = "S1A_IW_SLC__1SDV_20200511T135117_20200511T135144_032518_03C421_7768"
MEASUREMENT_BYTES = 16 * 1024 * 1024


def zipped_safe(safe: Path, archive: Path) -> Path:
    """The SAFE as a product zip: manifest, 3 x 16 MiB measurements, then the annotations (like ESA's zips)."""
    files = sorted(p for p in safe.rglob("*") if p.is_file())
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as out:
        out.write(safe / "manifest.safe", f"{safe.name}/manifest.safe")
        for swath in (1, 2, 3):
            info = zipfile.ZipInfo(f"{safe.name}/measurement/s1a-iw{swath}-slc-vv-x-00{swath + 3}.tiff")
            out.writestr(info, bytes(MEASUREMENT_BYTES), compress_type=zipfile.ZIP_STORED)
        for path in files:
            if path.name != "manifest.safe":
                out.write(path, f"{safe.name}/{path.relative_to(safe)}")
    return archive


@pytest.fixture
def safe(s1_safe_dir: Path) -> Path:
    return s1_safe_dir / f"{NAME}.SAFE"


@pytest.fixture
def product_zip(safe: Path, tmp_path: Path) -> Path:
    return zipped_safe(safe, tmp_path / f"{NAME}.zip")


def expected_annotations(safe: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((safe / "annotation").glob("s1a-iw*-slc-vv-*.xml"))]


def scene(**metadata: object) -> CatalogueScene:
    return CatalogueScene(NAME, datetime(2020, 5, 11, 13, 51, 17, tzinfo=UTC), None, metadata=dict(metadata))


def test_select_one_annotation_per_swath() -> None:
    names = [
        "P.SAFE/manifest.safe",
        "P.SAFE/annotation/s1a-iw1-slc-vh-a-001.xml",
        "P.SAFE/annotation/s1a-iw1-slc-vv-a-004.xml",
        "P.SAFE/annotation/calibration/calibration-s1a-iw1-slc-vv-a-004.xml",
        "P.SAFE/annotation/rfi/rfi-s1a-iw2-slc-vv-a-005.xml",
        "P.SAFE/annotation/s1a-iw2-slc-hv-a-002.xml",
        "P.SAFE/support/s1-object-types.xsd",
    ]
    chosen, manifest = select_members(names)
    assert chosen == ["P.SAFE/annotation/s1a-iw1-slc-vv-a-004.xml", "P.SAFE/annotation/s1a-iw2-slc-hv-a-002.xml"]
    assert manifest == "P.SAFE/manifest.safe"


def test_safe_folder_and_its_parent(safe: Path) -> None:
    for url in (str(safe), str(safe.parent / "..") + "/s1_safe/" + safe.name, f"file://{safe}"):
        found = read_source(url)
        assert [data for _, data in found.annotations] == expected_annotations(safe)
        assert found.manifest == (safe / "manifest.safe").read_bytes()


def test_local_zip(product_zip: Path, safe: Path) -> None:
    found = read_source(str(product_zip))
    assert [data for _, data in found.annotations] == expected_annotations(safe)
    assert (
        found.annotations[0][0]
        == f"{product_zip}!/{NAME}.SAFE/annotation/"
        + sorted(p.name for p in (safe / "annotation").glob("s1a-iw1*.xml"))[0]
    )
    assert found.manifest is not None


def test_zip_over_http_is_read_with_ranges(serve, product_zip: Path, safe: Path) -> None:
    server = serve(StaticFiles(product_zip.parent))
    found = read_source(f"{server.url}/{product_zip.name}", settings=Settings())
    assert [data for _, data in found.annotations] == expected_annotations(safe)
    size = product_zip.stat().st_size
    assert size > 3 * MEASUREMENT_BYTES
    assert all(r.headers.get("Range") for r in server.requests if r.method == "GET")
    assert server.bytes_sent < 0.05 * size, f"{server.bytes_sent} bytes of {size} were sent"
    with pytest.raises(NotFound):
        read_source(f"{server.url}/missing.zip", settings=Settings())


def test_zip_in_s3_is_read_with_ranges(s3_proxy, moto_endpoint: str, product_zip: Path, safe: Path) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(Bucket="annotations")
    client.upload_file(str(product_zip), "annotations", f"products/{product_zip.name}")
    s3_proxy.reset_counters()
    found = read_source(f"s3://annotations/products/{product_zip.name}", settings=s3_settings(s3_proxy.url))
    assert [data for _, data in found.annotations] == expected_annotations(safe)
    size = product_zip.stat().st_size
    assert any(r.headers.get("Range") or r.headers.get("range") for r in s3_proxy.requests)
    assert 0 < s3_proxy.bytes_sent < 0.05 * size, f"{s3_proxy.bytes_sent} bytes of {size} were sent"


def test_annotations_urls_patterns_are_tried_in_order(tmp_path: Path, safe: Path, product_zip: Path) -> None:
    patterns = [
        f"{tmp_path}/missing/{{SCENE}}.zip",
        f"{tmp_path}/{{MISSION_ID}}_{{MODE}}_SLC__1SDV_{{DATE}}*",
        str(product_zip.parent) + "/{SCENE}.zip",
    ]
    urls = annotation_urls(scene(), patterns, "Nevada")
    assert urls[0] == f"{tmp_path}/missing/{NAME}.zip"
    assert urls[1] == f"{tmp_path}/S1A_IW_SLC__1SDV_20200511*"
    found = find_annotations(scene(), [patterns[0], patterns[2]], "Nevada", Settings())
    assert found.source == str(product_zip) and len(found.annotations) == 3


def test_area_and_date_placeholders(tmp_path: Path, safe: Path) -> None:
    target = tmp_path / "Nevada" / "2020" / "05" / "11"
    target.mkdir(parents=True)
    shutil.copytree(safe, target / safe.name)
    pattern = f"{tmp_path}/{{AREA}}/{{YEAR}}/{{MONTH}}/{{DAY}}/{{SCENE}}.SAFE"
    bursts = scene_bursts(scene(), [pattern], "Nevada", Settings())
    assert len(bursts) == 27


def test_unknown_placeholder_is_named() -> None:
    with pytest.raises(InvalidInput, match=r"no value for \{TILE\}"):
        annotation_urls(scene(), ["s3://bucket/{TILE}/{SCENE}.zip"], "a")


def test_listed_annotation_files(safe: Path) -> None:
    hrefs = [str(p) for p in sorted((safe / "annotation").glob("*.xml"))]
    found = read_files(hrefs)
    assert [data for _, data in found.annotations] == expected_annotations(safe)
    via_metadata = find_annotations(scene(annotations=hrefs), [], "a", Settings())
    assert len(via_metadata.annotations) == 3


def test_product_link_in_metadata(product_zip: Path) -> None:
    found = find_annotations(scene(download_link=str(product_zip)), [], "a", Settings())
    assert len(found.annotations) == 3


def test_nothing_to_read_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no source of annotation files"):
        find_annotations(scene(), [], "a", Settings())
    with pytest.raises(NotFound):
        read_source(str(tmp_path / "nothing.zip"))
    with pytest.raises(InvalidInput, match="no annotation files found"):
        find_annotations(scene(), [str(tmp_path / "{SCENE}.zip")], "a", Settings())
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(InvalidInput, match="is not a zip archive"):
        read_source(str(tmp_path / "junk.zip"))


def test_unreachable_server_is_temporary() -> None:
    with pytest.raises(TemporaryError):
        find_annotations(scene(), ["http://127.0.0.1:9/{SCENE}.zip"], "a", Settings())
