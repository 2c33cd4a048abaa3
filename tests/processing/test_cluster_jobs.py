"""Jobs as Dask tasks: what travels with them, where their scratch folder is, and their result.

The isolated-worker end-to-end tests are in tests/cluster; these are the quick checks.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import SchedulerPlugin

from geocube_ingest import shutdown, storage
from geocube_ingest.processing import process_tile
from geocube_ingest.processing.cluster import close_client
from geocube_ingest.processing.job import job_settings
from geocube_ingest.processing.submit import _wait, shipped_settings
from geocube_ingest.settings import Settings, get_settings
from tests.processing.conftest import RecordingIndex, TileFactory
from tests.processing.products import write_band
from tests.processing.test_cluster import CONVERT
from tests.processing.test_job import uri, write_graph

SECRETS = ("orchestrator-key-id", "orchestrator-secret-value", "db-password", "provider-password")


def orchestrator_settings(**processing: object) -> Settings:
    return get_settings().with_overrides(
        {
            "database_url": "postgresql://ingest:db-password@db-host/geocube",
            "s3": {"access_key_id": SECRETS[0], "secret_access_key": SECRETS[1]},
            "download": {"providers": [{"name": "cdse", "kind": "cdse", "username": "u", "password": SECRETS[3]}]},
            "processing": {"scratch_dir": "/orchestrator/scratch", "cog_compress": "ZSTD", **processing},
        }
    )


def test_settings_travel_without_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    shipped = shipped_settings(orchestrator_settings())
    text = json.dumps(shipped)
    assert not [secret for secret in SECRETS if secret in text], text
    assert "database_url" not in shipped and "s3" not in shipped and "/orchestrator/scratch" not in text
    assert shipped["processing"]["cog_compress"] == "ZSTD"

    # A worker: its own storage credentials and scratch folder, the orchestrator's processing choices.
    monkeypatch.setenv("GEOCUBE_INGEST_S3__ACCESS_KEY_ID", "worker-key")
    monkeypatch.setenv("GEOCUBE_INGEST_PROCESSING__SCRATCH_DIR", str(tmp_path / "worker-scratch"))
    get_settings.cache_clear()
    on_worker = job_settings(shipped)
    assert on_worker.s3.access_key_id is not None and on_worker.s3.access_key_id.get_secret_value() == "worker-key"
    assert on_worker.processing.scratch_dir == tmp_path / "worker-scratch"
    assert on_worker.processing.cog_compress == "ZSTD"
    assert on_worker.database_url is None


def test_a_tile_job_runs_as_a_task_on_the_cluster(
    tmp_path: Path, make_tile: TileFactory, index: RecordingIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a scheduler address the job is one task; its scratch folder is the worker's, not `work_dir`;
    the orchestrator indexes the result."""
    monkeypatch.setenv("GEOCUBE_INGEST_PROCESSING__SCRATCH_DIR", str(tmp_path / "worker-scratch"))
    get_settings.cache_clear()
    graph = dict(CONVERT)
    graph["out_files"] = [
        [{"layer": "scaled", "extension": "tif", "action": "to_index", "dformat_out": "uint8,255,0,200",
          "ext_min_value": 0, "ext_max_value": 100}],
        [],
        [],
    ]  # fmt: skip
    tile = make_tile(
        1, "SCENE", write_graph(tmp_path / "graphs", graph), record_id="rec-1", instances={"scaled": "inst-1"}
    )
    storage_uri = str(tmp_path / "storage")
    write_band(
        tmp_path / "raw.tif", np.full((300, 300), 50, "float32"), crs=32631, origin=(399960, 4800000), resolution=10
    )
    storage.put_file(tmp_path / "raw.tif", uri(tile, "raw", "tif", storage_uri))
    seen: list[str] = []
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        settings = get_settings().with_overrides({"processing": {"dask_scheduler": cluster.scheduler_address}})
        assert settings.processing.cluster_jobs
        cluster.scheduler.add_plugin(_Keys(seen), name="keys")
        try:
            result = process_tile(
                tile, None, None, work_dir=tmp_path / "work", storage_uri=storage_uri, index=index, settings=settings
            )
        finally:
            close_client(settings)
    assert [key for key in seen if key.startswith("tile-1-")], seen
    assert not (tmp_path / "work").exists() and (tmp_path / "worker-scratch").is_dir()
    assert not list((tmp_path / "worker-scratch").iterdir()), "the job's scratch folder is removed"
    [stored] = result.outputs
    assert index.datasets == result.indexed and [d.uri for d in result.indexed] == [stored]
    with rasterio.open(stored) as src:
        assert src.res == (20.0, 20.0) and int(src.read(1)[0, 0]) == 100


class _Keys(SchedulerPlugin):
    """A scheduler plugin that records the keys of the tasks submitted."""

    def __init__(self, seen: list[str]):
        self.seen = seen

    def update_graph(self, scheduler: object, *, keys: set[object], **kwargs: object) -> None:  # type: ignore[override]
        self.seen.extend(str(k) for k in keys)


class SlowToLoad:
    """A job result that takes `seconds` to arrive: big enough for Dask to load it off its event
    loop (over `distributed.comm.offload`), slow to unpickle, as a large result on a busy network."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __reduce__(self) -> tuple[object, tuple[float, bytes]]:
        return _load_slowly, (self.seconds, bytes(11 * 2**20))


def _load_slowly(seconds: float, padding: bytes) -> str:
    time.sleep(seconds)
    return f"loaded {len(padding)} bytes"


def _finish_late(seconds: float) -> SlowToLoad:
    return SlowToLoad(seconds)


def _time_out() -> None:
    raise TimeoutError("the job's own timeout")


@pytest.mark.slow  # a process worker: the result must cross a process boundary
def test_a_job_whose_result_is_slow_to_arrive_is_not_a_timeout() -> None:
    """The wait for a job is checked once a second for a stop request; a job that finished while
    its result was still on the way counted as "TimeoutError: timed out after 1 s." (bench/scale_out.py
    lost 60 s on such scenes); a job's own TimeoutError still is the job's error."""
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        assert _wait(client.submit(_finish_late, 1.5, pure=False)) == f"loaded {11 * 2**20} bytes"
        with pytest.raises(TimeoutError, match="the job's own timeout"):
            _wait(client.submit(_time_out, pure=False))


def test_waiting_for_a_job_stops_when_the_process_is_asked_to() -> None:
    """A stop request ends the wait within about a second and cancels the job (its lease is given back)."""
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        future = client.submit(time.sleep, 4, pure=False)
        timer = threading.Timer(0.5, shutdown.request)
        timer.start()
        started = time.monotonic()
        try:
            with pytest.raises(shutdown.Stopped):
                _wait(future)
        finally:
            timer.cancel()
            shutdown.reset()
        assert time.monotonic() - started < 3
        assert future.status in ("cancelled", "lost") or future.cancelled()
