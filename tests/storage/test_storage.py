"""Storage over local disk, file://, S3 (moto server) and GCS (emulator): the same behaviour everywhere."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import rasterio

from geocube_ingest import storage
from geocube_ingest.errors import FatalError, InvalidInput, NotFound
from geocube_ingest.settings import Settings
from tests.download.servers import FileServer
from tests.storage.servers import GCSServer, S3Server

S2_SAFE = "s2_safe/S2A_MSIL1C_20180101T105441_N0206_R051_T31TDH_20180101T124911.SAFE"


@dataclass(frozen=True)
class Store:
    kind: str
    root: str
    settings: Settings


@pytest.fixture(params=["local", "file", "s3", "gs"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    kind = request.param
    if kind == "local":
        return Store(kind, str(tmp_path / "store"), Settings())
    if kind == "file":
        return Store(kind, f"file://{tmp_path / 'store'}", Settings())
    return _object_store(kind, request)


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_bytes_round_trip(store: Store) -> None:
    url = storage.join(store.root, "a", "b.bin")
    assert not storage.exists(url, settings=store.settings)
    storage.put_bytes(b"0123456789", url, settings=store.settings)
    assert storage.exists(url, settings=store.settings)
    assert storage.read_range(url, 2, 5, settings=store.settings) == b"234"
    assert storage.read_range(url, 4, 4, settings=store.settings) == b""
    assert storage.read_bytes(url, settings=store.settings) == b"0123456789"
    assert storage.size(url, settings=store.settings) == 10
    with storage.open(url, settings=store.settings) as handle:
        assert handle.read() == b"0123456789"
    storage.put_bytes(b"new", url, settings=store.settings)  # overwrite
    assert storage.read_bytes(url, settings=store.settings) == b"new"
    storage.delete(url, settings=store.settings)
    assert not storage.exists(url, settings=store.settings)
    storage.delete(url, settings=store.settings)  # deleting twice is fine


def test_listdir_gives_full_urls_of_direct_children(store: Store) -> None:
    for name in ("x.tif", "y.tif", "sub/z.tif"):
        storage.put_bytes(b"data", storage.join(store.root, "d", name), settings=store.settings)
    children = storage.listdir(storage.join(store.root, "d"), settings=store.settings)
    assert children == sorted(storage.join(store.root, "d", n) for n in ("sub", "x.tif", "y.tif"))
    for child in children:
        assert storage.exists(child, settings=store.settings)


def test_listdir_of_a_missing_folder_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        storage.listdir(storage.join(store.root, "nothing-here"), settings=store.settings)


def test_put_and_get_file(store: Store, tmp_path: Path, fixtures_dir: Path) -> None:
    source = fixtures_dir / "rasters" / "Rome-30m-DEM.tif"
    url = storage.join(store.root, "dem.tif")
    storage.put_file(source, url, settings=store.settings)
    back = storage.get_file(url, tmp_path / "back" / "dem.tif", settings=store.settings)
    assert back.read_bytes() == source.read_bytes()
    assert [p.name for p in back.parent.iterdir()] == ["dem.tif"]  # no temporary left behind
    if store.kind in ("local", "file"):
        folder = Path(storage.filesystem(url)[1]).parent
        assert sorted(p.name for p in folder.iterdir()) == ["dem.tif"]


def test_get_file_of_a_missing_object_is_not_found_and_leaves_nothing(store: Store, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        storage.get_file(storage.join(store.root, "missing.tif"), tmp_path / "out" / "x.tif", settings=store.settings)
    assert list((tmp_path / "out").iterdir()) == []


def test_directory_product_is_stored_zipped_and_restored(store: Store, tmp_path: Path, fixtures_dir: Path) -> None:
    product = fixtures_dir / S2_SAFE
    url = storage.tile_output_uri(
        store.root, "AOI-1", product.stem, product.stem, datetime(2018, 1, 1, tzinfo=UTC), "product", "SAFE"
    )
    stored = storage.put_path(product, url, settings=store.settings)
    assert stored == url + ".zip"
    assert storage.exists(stored, settings=store.settings)
    assert not storage.exists(url, settings=store.settings)
    local = storage.get_path(stored, tmp_path / "zip", settings=store.settings)
    assert local.name == storage.basename(stored)  # the zip itself when asked by its own name
    restored = storage.get_path(url, tmp_path / "restored", settings=store.settings)
    assert restored == tmp_path / "restored" / storage.basename(url)
    assert tree_digest(restored) == tree_digest(product)
    # The zip holds one top folder named like the logical object.
    with zipfile.ZipFile(local) as zf:
        assert {n.split("/", 1)[0] for n in zf.namelist()} == {storage.basename(url)}


def test_put_path_of_a_file_stores_it_as_is(store: Store, fixtures_dir: Path, tmp_path: Path) -> None:
    source = fixtures_dir / "rasters" / "Rome-30m-DEM.tif"
    url = storage.join(store.root, "p", "dem.tif")
    assert storage.put_path(source, url, settings=store.settings) == url
    assert storage.get_path(url, tmp_path, settings=store.settings).read_bytes() == source.read_bytes()


def test_get_path_of_a_stored_folder(store: Store, tmp_path: Path) -> None:
    for name in ("manifest.safe", "annotation/a.xml"):
        storage.put_bytes(name.encode(), storage.join(store.root, "X.SAFE", name), settings=store.settings)
    local = storage.get_path(storage.join(store.root, "X.SAFE"), tmp_path, settings=store.settings)
    assert local == tmp_path / "X.SAFE"
    assert (local / "annotation" / "a.xml").read_bytes() == b"annotation/a.xml"


def test_get_path_of_nothing_is_not_found(store: Store, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"Y\.SAFE"):
        storage.get_path(storage.join(store.root, "Y.SAFE"), tmp_path, settings=store.settings)


def test_recursive_delete(store: Store) -> None:
    for name in ("a", "b/c"):
        storage.put_bytes(b"1", storage.join(store.root, "tree", name), settings=store.settings)
    storage.delete(storage.join(store.root, "tree"), recursive=True, settings=store.settings)
    assert not storage.exists(storage.join(store.root, "tree", "b", "c"), settings=store.settings)


def test_rasterio_reads_stored_cogs_through_gdal(store: Store, fixtures_dir: Path) -> None:
    source = fixtures_dir / "rasters" / "Rome-30m-DEM.tif"
    url = storage.join(store.root, "cog", "dem.tif")
    storage.put_file(source, url, settings=store.settings)
    with rasterio.open(source) as ds:
        expected = ds.read(1)
    with storage.rasterio_env(url, settings=store.settings), rasterio.open(storage.gdal_path(url)) as ds:
        assert ds.shape == (360, 360)
        assert (ds.read(1) == expected).all()


# -- names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "parts", "expected"),
    [
        ("s3://b/root", ("a", "b.tif"), "s3://b/root/a/b.tif"),
        ("s3://b/root/", ("/a/", "b.tif"), "s3://b/root/a/b.tif"),
        ("gs://b", ("x",), "gs://b/x"),
        ("/data/store", ("aoi", "s"), "/data/store/aoi/s"),
        ("file:///data", ("x",), "file:///data/x"),
        ("https://h.example/p", ("q.zip",), "https://h.example/p/q.zip"),
        ("s3://b/root", (), "s3://b/root"),
        ("relative/dir", ("x",), "relative/dir/x"),
    ],
)
def test_join(base: str, parts: tuple[str, ...], expected: str) -> None:
    assert storage.join(base, *parts) == expected


def test_tile_output_uri_follows_the_spec_layout() -> None:
    uri = storage.tile_output_uri(
        "s3://bucket/out", "Denmark", "S1A_SCENE", "t044_093207_iw1", datetime(2022, 1, 4, 10, 34), "sigma0_VV", "tif"
    )
    assert uri == "s3://bucket/out/Denmark/S1A_SCENE/tiles/t044_093207_iw1/20220104_t044_093207_iw1_sigma0_VV.tif"
    assert storage.tile_output_uri("/x", "a", "s", "t", datetime(2022, 1, 4), "product", ".SAFE").endswith(
        "/x/a/s/tiles/t/20220104_t_product.SAFE"
    )


@pytest.mark.parametrize("bad", ["", "..", "a/b"])
def test_tile_output_uri_refuses_names_that_change_the_layout(bad: str) -> None:
    with pytest.raises(InvalidInput, match="storage path"):
        storage.tile_output_uri("/x", "aoi", "scene", bad, datetime(2022, 1, 4), "layer", "tif")


def test_resolve_storage_uri_payload_overrides_default(tmp_path: Path) -> None:
    settings = Settings(storage_uri="s3://default/root", security={"storage_roots": ["gs://mine"]})  # type: ignore[arg-type]
    assert storage.resolve_storage_uri({"storage_uri": "gs://mine/x"}, settings=settings) == "gs://mine/x"
    with pytest.raises(FatalError, match="not allowed"):  # only under the roots the operator allows
        storage.resolve_storage_uri({"storage_uri": "gs://yours/x"}, settings=settings)
    assert storage.resolve_storage_uri({"storage_uri": ""}, settings=settings) == "s3://default/root"
    assert storage.resolve_storage_uri({}, settings=settings) == "s3://default/root"
    assert storage.resolve_storage_uri({}) == str(Settings().home / "storage")


# -- atomicity ------------------------------------------------------------------------


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_temporaries_of_a_killed_writer_are_swept_by_the_next_write(tmp_path: Path) -> None:
    import socket

    target = tmp_path / "store" / "product.zip"
    target.parent.mkdir(parents=True)
    host = socket.gethostname().replace(".", "_")
    dead = target.parent / f".product.zip.{host}-{_dead_pid()}-abcd1234.part"
    alive = target.parent / f".product.zip.{host}-{os.getpid()}-abcd1234.part"
    dead.write_bytes(b"half a product")
    alive.write_bytes(b"someone is writing")
    storage.put_bytes(b"complete", str(target))
    assert target.read_bytes() == b"complete"
    assert not dead.exists()
    assert alive.exists()  # a live writer's file is never touched


def test_failed_local_write_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "store" / "x.bin"

    class Boom(Exception):
        pass

    with pytest.raises(Boom), storage._local_atomic(target) as temp:
        temp.write_bytes(b"partial")
        raise Boom
    assert list(target.parent.iterdir()) == []


def test_http_is_read_only_and_range_reads_ask_for_a_range(tmp_path: Path) -> None:
    server = FileServer().start()
    try:
        body = bytes(range(256)) * 1000
        url = server.add("/data/file.bin", body)
        assert storage.exists(url)
        assert storage.read_range(url, 1000, 1010) == body[1000:1010]
        ranged = [r for r in server.requests if r.method == "GET" and "range" in r.headers]
        assert ranged and ranged[-1].headers["range"] == "bytes=1000-1009"
        # A server that ignores ranges still gives the right bytes.
        plain = server.add("/data/plain.bin", body, ranges=False)
        assert storage.read_range(plain, 1000, 1010) == body[1000:1010]
        with pytest.raises(InvalidInput, match="read-only"):
            storage.put_bytes(b"x", url)
        with pytest.raises(InvalidInput, match="read-only"):
            storage.delete(url)
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["s3"])  # the GCS emulator cannot cancel a resumable upload (501)
def test_a_discarded_stream_leaves_no_object(kind: str, request: pytest.FixtureRequest) -> None:
    """Parts already sent (several MB) included: the upload is abandoned, nothing appears."""
    store = _object_store(kind, request)
    url = storage.join(store.root, "streamed.bin")
    handle = storage.open(url, "wb", settings=store.settings, block_size=5 * 2**20)
    for _ in range(3):
        handle.write(os.urandom(4 * 2**20))
    storage.discard(handle)
    del handle
    assert storage.commits_atomically(url)
    assert not storage.exists(url, settings=store.settings)
    if kind == "s3":
        import boto3

        s3 = store.settings.s3
        assert s3.access_key_id is not None and s3.secret_access_key is not None
        client = boto3.client(
            "s3",
            endpoint_url=s3.endpoint_url,
            region_name=s3.region,
            aws_access_key_id=s3.access_key_id.get_secret_value(),
            aws_secret_access_key=s3.secret_access_key.get_secret_value(),
        )
        assert client.list_multipart_uploads(Bucket=url.split("/")[2]).get("Uploads", []) == []


def _object_store(kind: str, request: pytest.FixtureRequest) -> Store:
    if kind == "s3":
        s3: S3Server = request.getfixturevalue("s3_server")
        return Store(kind, f"s3://{s3.new_bucket()}/root", Settings(s3=s3.settings()))
    gcs: GCSServer = request.getfixturevalue("gcs_server")
    return Store(kind, f"gs://{gcs.new_bucket()}/root", Settings(gcs=gcs.settings()))


def test_a_pending_write_appears_whole_when_committed_and_never_when_discarded(store: Store) -> None:
    url = storage.join(store.root, "aoi", "layer.tif")
    data = os.urandom(6 * 2**20)
    pending = storage.PendingWrite(url, settings=store.settings)
    for start in range(0, len(data), 2**20):
        pending.handle.write(data[start : start + 2**20])
    pending.handle.close()
    assert not storage.exists(url, settings=store.settings), "not there before the commit"
    assert pending.commit() == url
    assert storage.read_bytes(url, settings=store.settings) == data
    with pytest.raises(RuntimeError, match="already committed"):
        pending.commit()
    if store.kind == "gs":
        return  # the GCS emulator cannot cancel a resumable upload (501)
    dropped = storage.PendingWrite(url, settings=store.settings)
    dropped.handle.write(b"a newer layer that failed half way")
    dropped.discard()
    dropped.discard()
    assert storage.read_bytes(url, settings=store.settings) == data, "the stored layer is untouched"
    if store.kind in ("local", "file"):
        assert [p.name for p in Path(storage.join(store.root, "aoi").removeprefix("file://")).iterdir()] == [
            "layer.tif"
        ]
