"""The processing job: the three slots, every output action and condition, failure paths,
and reporting to a real workflow (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rio_cogeo import cog_validate

from geocube_ingest import storage
from geocube_ingest.errors import FatalError, RetriableError, TemporaryError
from geocube_ingest.index.base import DatasetToIndex
from geocube_ingest.pipeline.workers import process_one
from geocube_ingest.processing import process_tile, run_scene_graph
from geocube_ingest.settings import get_settings
from geocube_ingest.status import Status
from geocube_ingest.workflow import NewScene, NewTile, Outcome, Workflow
from geocube_ingest.workflow.models import Tile
from tests.processing.conftest import RecordingIndex, TileFactory, scene_of

STEPS = "tests.processing.steps"


def write_graph(folder: Path, body: dict[str, Any], name: str = "graph") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(body))
    return str(path)


def put_layer(tile: Tile, layer: str, ext: str, text: str, storage_uri: str) -> str:
    url = storage.tile_output_uri(storage_uri, tile.aoi, tile.scene_source_id, tile.source_id, tile.date, layer, ext)
    storage.put_bytes(text.encode(), url)
    return url


def uri(tile: Tile, layer: str, ext: str, storage_uri: str) -> str:
    return storage.tile_output_uri(storage_uri, tile.aoi, tile.scene_source_id, tile.source_id, tile.date, layer, ext)


def inp(slot: int, layer: str, ext: str = "txt") -> dict[str, Any]:
    return {"type": "in", "tile_index": slot, "layer": layer, "extension": ext}


def out(layer: str, ext: str = "txt") -> dict[str, Any]:
    return {"type": "out", "layer": layer, "extension": ext}


def fixed(value: str) -> dict[str, str]:
    return {"type": "fixed", "value": value}


def series(make_tile: TileFactory, graph: str, **kwargs: Any) -> tuple[Tile, Tile, Tile]:
    """reference (first), previous, current: three acquisitions of one place."""
    ref = make_tile(1, "SCENE_A", graph, tile="T1", date=datetime(2022, 1, 1, tzinfo=UTC), **kwargs)
    prev = make_tile(2, "SCENE_B", graph, tile="T1", date=datetime(2022, 1, 13, tzinfo=UTC), **kwargs)
    cur = make_tile(3, "SCENE_C", graph, tile="T1", date=datetime(2022, 1, 25, tzinfo=UTC), **kwargs)
    return ref, prev, cur


SLOTS_GRAPH = {
    "in_files": [
        [{"layer": "state", "extension": "txt"}],
        [{"layer": "state", "extension": "txt", "condition": "different_T0_T1"}],
        [{"layer": "state", "extension": "txt", "condition": "different_T0_T2"}],
    ],
    "processing_steps": [
        {
            "engine": "python",
            "command": f"{STEPS}:concat",
            "args": {"output": out("combined"), "a": inp(0, "state"), "b": inp(1, "state"), "c": inp(2, "state")},
        },
        {
            "engine": "python",
            "command": f"{STEPS}:write_text",
            "condition": "equal_T0_T1",
            "args": {"output": out("root"), "text": fixed("no previous")},
        },
    ],
    "out_files": [
        [
            {"layer": "combined", "extension": "txt", "action": "to_create"},
            {"layer": "root", "extension": "txt", "action": "to_create", "condition": "file_exists"},
        ],
        [],
        [],
    ],
}


def test_three_slots_read_the_previous_and_the_reference(
    tmp_path: Path, make_tile: TileFactory, index: RecordingIndex
) -> None:
    graph = write_graph(tmp_path / "graphs", SLOTS_GRAPH)
    ref, prev, cur = series(make_tile, graph)
    storage_uri = str(tmp_path / "storage")
    for tile, text in ((ref, "ref"), (prev, "prev"), (cur, "cur")):
        put_layer(tile, "state", "txt", text, storage_uri)

    result = process_tile(cur, prev, ref, work_dir=tmp_path / "work", storage_uri=storage_uri, index=index)
    assert result.outputs == [uri(cur, "combined", "txt", storage_uri)]
    assert storage.read_bytes(result.outputs[0]).decode() == "a=cur\nb=prev\nc=ref\n"

    # A root tile: previous and reference are the tile itself.
    result = process_tile(ref, None, None, work_dir=tmp_path / "work", storage_uri=storage_uri, index=index)
    assert storage.read_bytes(uri(ref, "combined", "txt", storage_uri)).decode() == "a=ref\nb=ref\nc=ref\n"
    assert storage.read_bytes(uri(ref, "root", "txt", storage_uri)).decode() == "no previous", "equal_T0_T1 step ran"
    assert not storage.exists(uri(cur, "root", "txt", storage_uri)), "equal_T0_T1 step skipped when there is a previous"


def test_previous_stored_under_its_own_storage_uri(tmp_path: Path, make_tile: TileFactory) -> None:
    graph = write_graph(tmp_path / "graphs", SLOTS_GRAPH)
    ref, prev, cur = series(make_tile, graph)
    elsewhere = str(tmp_path / "other-storage")
    prev = make_tile(2, "SCENE_B", graph, tile="T1", date=prev.date, storage_uri=elsewhere)
    storage_uri = str(tmp_path / "storage")
    put_layer(ref, "state", "txt", "ref", storage_uri)
    put_layer(prev, "state", "txt", "prev", elsewhere)
    put_layer(cur, "state", "txt", "cur", storage_uri)
    result = process_tile(cur, prev, ref, work_dir=tmp_path / "work", storage_uri=storage_uri, index=None)
    assert storage.read_bytes(result.outputs[0]).decode() == "a=cur\nb=prev\nc=ref\n"


class OrderCheckingIndex(RecordingIndex):
    """Records, and checks that nothing the graph deletes is gone yet when indexing happens."""

    def __init__(self, must_exist: list[str]):
        super().__init__()
        self.must_exist = must_exist

    def index_datasets(self, datasets: list[DatasetToIndex]) -> None:
        assert all(storage.exists(u) for u in self.must_exist), "to_delete ran before indexing"
        super().index_datasets(datasets)


def test_every_action_and_file_condition(tmp_path: Path, make_tile: TileFactory) -> None:
    body = {
        "config": {"dformat": "uint8,0,1,255"},
        "in_files": [[], [{"layer": "state", "extension": "txt", "condition": "different_T0_T1"}], []],
        "processing_steps": [
            {
                "engine": "python",
                "command": f"{STEPS}:write_text",
                "args": {"output": out("created"), "text": fixed("c")},
            },
            {
                "engine": "python",
                "command": f"{STEPS}:write_text",
                "args": {"output": out("ignored"), "text": fixed("i")},
            },
            {"engine": "python", "command": f"{STEPS}:plain_geotiff", "args": {"output": out("indexed", "tif")}},
        ],
        "out_files": [
            [
                {"layer": "created", "extension": "txt", "action": "to_create"},
                {"layer": "ignored", "extension": "txt", "action": "to_ignore"},
                {
                    "layer": "indexed",
                    "extension": "tif",
                    "action": "to_index",
                    "dformat_out": {"type": "config", "value": "dformat"},
                    "ext_min_value": 0,
                    "ext_max_value": 25.4,
                    "exponent": 2,
                    "nbands": 1,
                },
                {"layer": "optional", "extension": "txt", "action": "to_create", "condition": "file_exists"},
                {"layer": "old", "extension": "txt", "action": "to_delete", "condition": "file_not_exist"},
                {"layer": "created", "extension": "txt", "action": "to_delete", "condition": "file_not_exist"},
            ],
            [{"layer": "state", "extension": "txt", "action": "to_delete", "condition": "different_T0_T1"}],
            [],
        ],
    }
    graph = write_graph(tmp_path / "graphs", body)
    ref, prev, cur = series(make_tile, graph, record_id="rec-9", instances={"indexed": "inst-1"})
    storage_uri = str(tmp_path / "storage")
    previous_state = put_layer(prev, "state", "txt", "prev", storage_uri)
    old = put_layer(cur, "old", "txt", "stale", storage_uri)
    index = OrderCheckingIndex([previous_state, old])

    result = process_tile(cur, prev, ref, work_dir=tmp_path / "work", storage_uri=storage_uri, index=index)

    indexed_url = uri(cur, "indexed", "tif", storage_uri)
    assert sorted(result.outputs) == sorted([uri(cur, "created", "txt", storage_uri), indexed_url])
    assert not storage.exists(uri(cur, "ignored", "txt", storage_uri)), "to_ignore is not stored"
    assert not storage.exists(uri(cur, "optional", "txt", storage_uri)), "file_exists: not produced, not stored"
    assert storage.exists(uri(cur, "created", "txt", storage_uri)), "file_not_exist: it exists, so not deleted"
    assert sorted(result.deleted) == sorted([previous_state, old]), "to_delete of slot 1 and of a stale layer"
    assert not storage.exists(previous_state) and not storage.exists(old)
    [dataset] = index.datasets
    assert dataset == DatasetToIndex(
        uri=indexed_url,
        record_id="rec-9",
        instance_id="inst-1",
        dformat=dataset.dformat,
        real_min=0,
        real_max=25.4,
        exponent=2,
        bands=(1,),
        layer="indexed",
    )
    assert str(dataset.dformat) == "uint8,0,1,255"
    valid, errors, _ = cog_validate(indexed_url, quiet=True)
    assert valid, f"a plain GeoTIFF written by a step becomes a COG before it is indexed: {errors}"


def failing_graph(kind: str) -> dict[str, Any]:
    return {
        "processing_steps": [
            {"engine": "python", "command": f"{STEPS}:fail", "args": {"kind": fixed(kind), "output": out("partial")}},
            {
                "engine": "python",
                "command": f"{STEPS}:write_text",
                "args": {"output": out("never"), "text": fixed("x")},
            },
        ],
        "out_files": [
            [
                {"layer": "product", "extension": "SAFE", "action": "to_delete", "error_condition": "on_fatal_failure"},
                {"layer": "partial", "extension": "txt", "action": "to_create", "condition": "on_failure"},
                {"layer": "never", "extension": "txt", "action": "to_create"},
            ],
            [],
            [],
        ],
    }


@pytest.mark.parametrize(
    ("kind", "error", "product_deleted"),
    [
        ("fatal", FatalError, True),
        ("marked", FatalError, True),  # an exception whose message says FATAL ERROR:
        ("value", RetriableError, False),
        ("temporary", TemporaryError, False),
    ],
)
def test_failure_classes_and_failure_outputs(
    tmp_path: Path, make_tile: TileFactory, index: RecordingIndex, kind: str, error: type, product_deleted: bool
) -> None:
    graph = write_graph(tmp_path / "graphs", failing_graph(kind))
    tile = make_tile(5, "SCENE_F", graph)
    storage_uri = str(tmp_path / "storage")
    product = put_layer(tile, "product", "SAFE", "zip bytes", storage_uri)

    with pytest.raises(error) as raised:
        process_tile(tile, None, None, work_dir=tmp_path / "work", storage_uri=storage_uri, index=index)

    assert "step 0 (python" in str(raised.value)
    assert storage.exists(product) is not product_deleted, "on_fatal_failure outputs only after a fatal error"
    assert storage.exists(uri(tile, "partial", "txt", storage_uri)), "on_failure outputs are stored after any failure"
    assert not storage.exists(uri(tile, "never", "txt", storage_uri)), (
        "later steps do not run, plain outputs not stored"
    )
    assert not list((tmp_path / "work").iterdir()), "the scratch folder is cleaned after a failure too"


def test_zipped_product_deleted_on_fatal_failure(tmp_path: Path, fixtures_dir: Path, make_tile: TileFactory) -> None:
    """A SAFE stored zipped by CopyProductToStorage is deleted by a product to_delete."""
    import numpy as np

    from tests.processing.products import make_s2_safe

    safe = make_s2_safe(tmp_path / "dl", fixtures_dir, {"B04": np.ones((4, 4), "uint16")}, ext="tif")
    graph = write_graph(tmp_path / "graphs", failing_graph("fatal"))
    tile = make_tile(6, safe.name.removesuffix(".SAFE"), graph)
    storage_uri = str(tmp_path / "storage")
    [stored] = run_scene_graph(scene_of(tile), [tile], safe, work_dir=tmp_path / "work", storage_uri=storage_uri)[6]
    assert stored.endswith(".SAFE.zip") and storage.exists(stored)
    with pytest.raises(FatalError):
        process_tile(tile, None, None, work_dir=tmp_path / "work", storage_uri=storage_uri, index=None)
    assert not storage.exists(stored)


def test_missing_input_is_retriable(tmp_path: Path, make_tile: TileFactory) -> None:
    graph = write_graph(tmp_path / "graphs", SLOTS_GRAPH)
    ref, prev, cur = series(make_tile, graph)
    storage_uri = str(tmp_path / "storage")
    put_layer(cur, "state", "txt", "cur", storage_uri)
    with pytest.raises(RetriableError, match=r"input state\.txt of slot 1"):
        process_tile(cur, prev, ref, work_dir=tmp_path / "work", storage_uri=storage_uri, index=None)


def test_unknown_or_invalid_graph_is_fatal(tmp_path: Path, make_tile: TileFactory) -> None:
    storage_uri = str(tmp_path / "storage")
    with pytest.raises(FatalError, match="unknown graph 'NoSuchGraph'"):
        process_tile(
            make_tile(1, "S", "NoSuchGraph"), None, None, work_dir=tmp_path, storage_uri=storage_uri, index=None
        )
    bad = write_graph(tmp_path / "graphs", {"processing_steps": [{"engine": "xarray", "command": "nope"}]})
    with pytest.raises(FatalError, match=r"processing_steps\[0\]\.command: unknown xarray step 'nope'"):
        process_tile(make_tile(1, "S", bad), None, None, work_dir=tmp_path, storage_uri=storage_uri, index=None)
    with pytest.raises(FatalError, match="no graph_name"):
        process_tile(make_tile(1, "S", ""), None, None, work_dir=tmp_path, storage_uri=storage_uri, index=None)


INDEX_GRAPH = {
    "processing_steps": [
        {"engine": "python", "command": f"{STEPS}:plain_geotiff", "args": {"output": out("layer", "tif")}}
    ],
    "out_files": [
        [
            {
                "layer": "layer",
                "extension": "tif",
                "action": "to_index",
                "dformat_out": "uint8,0,1,255",
                "ext_min_value": 0,
                "ext_max_value": 1,
            }
        ],
        [],
        [],
    ],
}


def test_indexing_needs_record_and_instance(tmp_path: Path, make_tile: TileFactory, index: RecordingIndex) -> None:
    graph = write_graph(tmp_path / "graphs", INDEX_GRAPH)
    storage_uri = str(tmp_path / "storage")
    tile = make_tile(1, "S", graph, record_id="rec", instances={"other": "x"})
    with pytest.raises(FatalError, match=r"no instances_id\['layer'\]"):
        process_tile(tile, None, None, work_dir=tmp_path / "w", storage_uri=storage_uri, index=index)
    assert index.calls == []
    # Without an index, the layer is stored and nothing is indexed.
    result = process_tile(tile, None, None, work_dir=tmp_path / "w", storage_uri=storage_uri, index=None)
    assert result.outputs == [uri(tile, "layer", "tif", storage_uri)] and result.indexed == []


def test_index_failure_is_classified(tmp_path: Path, make_tile: TileFactory) -> None:
    graph = write_graph(tmp_path / "graphs", INDEX_GRAPH)
    tile = make_tile(1, "S", graph, record_id="rec", instances={"layer": "i"})
    index = RecordingIndex(fail=ConnectionError("index unreachable"))
    with pytest.raises(TemporaryError, match="index unreachable"):
        process_tile(tile, None, None, work_dir=tmp_path / "w", storage_uri=str(tmp_path / "s"), index=index)


def test_keep_work_dir(tmp_path: Path, make_tile: TileFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOCUBE_INGEST_PROCESSING__KEEP_WORK_DIR", "true")
    get_settings.cache_clear()
    graph = write_graph(tmp_path / "graphs", INDEX_GRAPH)
    process_tile(
        make_tile(1, "S", graph), None, None, work_dir=tmp_path / "w", storage_uri=str(tmp_path / "s"), index=None
    )
    [kept] = list((tmp_path / "w").iterdir())
    assert (kept / "20220413_S_layer.tif").is_file(), "local files are named <YYYYMMDD>_<tile>_<layer>.<ext>"


def _ingest_one(workflow: Workflow, graph: str) -> int:
    scene = NewScene(
        "SCENE_W",
        {"date": "2022-01-04T10:34:31Z", "graph_name": "CopyProductToStorage", "record_id": "rec", "instances_id": {}},
        [NewTile("T1", {"swath_id": "", "tile_nr": 0, "graph_name": graph, "is_retriable": True})],
    )
    workflow.ingest("AOI_W", [scene])
    [scene_lease] = workflow.claim("scene", "downloader")
    workflow.report(scene_lease, Outcome.done())
    [tile] = workflow.tiles("AOI_W")
    return tile.id


@pytest.mark.parametrize(("kind", "status"), [("ok", Status.DONE), ("fatal", Status.FAILED), ("value", Status.RETRY)])
def test_processing_outcome_reaches_the_workflow(
    workflow: Workflow, tmp_path: Path, index: RecordingIndex, kind: str, status: Status
) -> None:
    body = INDEX_GRAPH if kind == "ok" else failing_graph(kind)
    if kind == "ok":
        body = {**INDEX_GRAPH, "out_files": [[{"layer": "layer", "extension": "tif", "action": "to_create"}], [], []]}
    graph = write_graph(tmp_path / "graphs", body)
    tile_id = _ingest_one(workflow, graph)
    [lease] = workflow.claim("tile", "processor")
    assert lease.id == tile_id
    outcome = process_one(workflow, lease, index, get_settings())
    assert workflow.report(lease, outcome)
    tile = workflow.tile(tile_id)
    assert tile.status is status, tile.message
    if status is Status.DONE:
        assert outcome.message == "1 file stored, 0 indexed"
        stored = storage.tile_output_uri(
            get_settings().resolved_storage_uri, "AOI_W", "SCENE_W", "T1", tile.date, "layer", "tif"
        )  # type: ignore[arg-type]
        assert storage.exists(stored), "stored under the configured storage root (scene storage_uri empty)"
    else:
        assert "step 0 (python" in tile.message
