"""The demo on a Dask cluster whose workers see storage only (issue 11).

A scheduler and two one-thread `dask worker` processes, each in its own mount namespace with a
tmpfs over /tmp (the demo's home, work folders, catalogue and products are all there), S3 on a
moto server, the workflow database and index on PostgreSQL. `geocube-ingest demo` runs the S2,
S1 GRD and S1 SLC payloads through the Prefect flow; then again without Prefect while a worker is killed;
then the S1 payload with storage on a GCS emulator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pystac
import pytest
from rio_cogeo.cogeo import cog_validate

from geocube_ingest import storage
from geocube_ingest.demo import s1_slc_world, s1_world
from geocube_ingest.demo.build import AOI_NAME
from geocube_ingest.demo.world import overrides
from geocube_ingest.index import get_index
from geocube_ingest.index.cube import open_cube
from geocube_ingest.index.embedded import EmbeddedIndex
from geocube_ingest.pipeline import ingest
from geocube_ingest.processing.cluster import close_client
from geocube_ingest.settings import Settings
from geocube_ingest.workflow import Workflow
from tests.cluster.conftest import Cluster, orchestrator_env
from tests.storage.servers import GCSServer, S3Server

pytestmark = pytest.mark.slow

# AOI: (tiles, dates in its cube, cube); a root coherence tile has nothing to compare with, so no date.
AOIS = {
    AOI_NAME: (9, 9, ("NDVI", "demo")),
    s1_world.AOI_NAME: (4, 4, ("Sigma0dB", "VV")),
    s1_slc_world.BACKSCATTER.AOI_NAME: (3, 3, ("Gamma0dB", "VV")),
    s1_slc_world.COHERENCE.AOI_NAME: (3, 2, ("Coherence", "VV")),
}
TILES = sum(tiles for tiles, _, _ in AOIS.values())


def demo_command(cluster: Cluster, database: str, home: Path, *extra: str) -> tuple[list[str], dict[str, str]]:
    bucket = S3Server(cluster.storage_env["GEOCUBE_INGEST_S3__ENDPOINT_URL"]).new_bucket()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEOCUBE_INGEST_", "PREFECT_", "AWS_"))}
    env.update(orchestrator_env(cluster, f"s3://{bucket}/cubes", database))
    env.update({"GEOCUBE_INGEST_HOME": str(home), "PREFECT_HOME": str(home / "prefect"), "COLUMNS": "120"})
    return [sys.executable, "-m", "geocube_ingest.cli.main", "demo", *extra], env


def settings_of(env: dict[str, str]) -> Settings:
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in env.items() if k.startswith(("GEOCUBE_INGEST_", "AWS_"))})
    try:
        return Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def check_ingested(settings: Settings) -> None:
    """Every tile DONE, every COG valid in S3, the STAC collections readable, the cubes open from S3."""
    workflow = Workflow(settings=settings)
    index = EmbeddedIndex(settings=settings)
    for aoi, (tiles, dates, (variable, instance)) in AOIS.items():
        summary = workflow.summary(aoi)
        assert (summary.tiles.done, summary.tiles.total) == (tiles, tiles), summary
        assert (summary.scenes.done, summary.scenes.total) == (tiles, tiles), summary
        href = storage.join(settings.resolved_storage_uri, aoi, "stac", "collection.json")
        collection = pystac.Collection.from_dict(json.loads(storage.read_bytes(href, settings=settings)))
        assert collection.id and collection.get_item_links(), href
        cube = open_cube(variable, instance, collection=aoi, settings=settings)
        assert cube.sizes["time"] == dates
        assert float(cube.isnull().mean()) < 1.0
    datasets = index.datasets()
    assert datasets and all(d.uri.startswith("s3://") for d in datasets)
    fs, root = storage.filesystem(settings.resolved_storage_uri, settings)
    cogs = [f"s3://{path}" for path in fs.find(root) if path.endswith(".tif")]
    assert {d.uri for d in datasets} <= set(cogs)
    with storage.rasterio_env(cogs[0], settings=settings):
        for uri in cogs:
            valid, errors, _ = cog_validate(storage.gdal_path(uri), quiet=True)
            assert valid, (uri, errors)
    # Nothing duplicated: one dataset per record and instance, one record per scene.
    pairs = Counter((d.record_id, d.instance_id) for d in datasets)
    assert max(pairs.values()) == 1, [p for p, n in pairs.items() if n > 1]
    assert index.counts()["records"] == sum(dates for _, dates, _ in AOIS.values())
    staged = storage.join(settings.resolved_storage_uri, ".staging")
    assert not storage.exists(staged, settings=settings) or not storage.listdir(staged, settings=settings)


def test_demo_through_prefect_on_isolated_workers(isolated_cluster: Cluster, database: str, tmp_path: Path) -> None:
    command, env = demo_command(isolated_cluster, database, tmp_path / "home")
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    output = result.stdout[-3000:] + result.stderr[-3000:]
    assert result.returncode == 0, output + isolated_cluster.log("w1")[-3000:]
    assert "Ingesting LongmontDemoS2 (Prefect flow ingest-aoi)" in result.stdout
    assert "Cube: NDVI/demo, 9 dates" in result.stdout and "Cube: Sigma0dB/VV, 4 dates" in result.stdout
    assert "Cube: Gamma0dB/VV, 3 dates" in result.stdout and "Cube: Coherence/VV, 2 dates" in result.stdout
    check_ingested(settings_of(env))
    jobs = isolated_cluster.jobs()
    assert set(jobs) == {"w1", "w2"} and all(jobs.values()), jobs  # both workers ran tile and scene jobs
    assert len(set().union(*jobs.values())) == 2 * TILES, jobs


def test_a_worker_killed_mid_run(isolated_cluster: Cluster, database: str, tmp_path: Path) -> None:
    command, env = demo_command(isolated_cluster, database, tmp_path / "home", "--no-prefect")
    settings = settings_of(env)
    log = (tmp_path / "demo.log").open("wb")
    run = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline, busy = time.monotonic() + 600, []
        while time.monotonic() < deadline and run.poll() is None:
            busy = isolated_cluster.busy("tile-")
            if busy:  # a tile job is running: kill its worker
                break
            time.sleep(0.1)
        assert run.poll() is None and busy, (tmp_path / "demo.log").read_text()[-3000:]
        victim = busy[0]
        isolated_cluster.kill(victim)
        killed_at = Workflow(settings=settings).summary(AOI_NAME).tiles.done
        assert run.wait(900) == 0, (tmp_path / "demo.log").read_text()[-3000:]
    finally:
        if run.poll() is None:
            run.kill()
    check_ingested(settings)
    assert killed_at < AOIS[AOI_NAME][0], "w1 was killed mid-run"
    assert set(isolated_cluster.jobs()) == {"w1", "w2"} - {victim}  # the rest ran on the surviving worker
    # Finished jobs are released as soon as their result is back: none ran again because of the kill.
    assert "lose already computed" not in isolated_cluster.log("scheduler")


def test_sentinel1_on_gcs(gcs_cluster: Cluster, gcs_server: GCSServer, database: str, tmp_path: Path) -> None:
    """The same workers with storage on GCS: the orchestrator (this process) downloads and indexes,
    the workers run every job against the emulator."""
    world = s1_world.build(tmp_path / "s1")
    bucket = gcs_server.new_bucket()
    environment = orchestrator_env(gcs_cluster, f"gs://{bucket}/cubes", database)
    settings = settings_of({**environment, "GEOCUBE_INGEST_HOME": str(tmp_path / "home")}).with_overrides(
        overrides(world)
    )
    s1_world.prepare_index(get_index(settings))
    try:
        report = ingest(world.payload, settings=settings)
    finally:
        close_client(settings)
    assert report.done, report.text()
    jobs = gcs_cluster.jobs()
    assert set().union(*jobs.values()) == {f"{kind}-{n}" for kind in ("scene", "tile") for n in range(1, 5)}, jobs
    fs, root = storage.filesystem(settings.resolved_storage_uri, settings)
    cogs = [path for path in fs.find(root) if path.endswith(".tif")]
    assert len(cogs) == 8  # VV and VH of four passes
    for n, path in enumerate(cogs):
        local = storage.get_file(f"gs://{path}", tmp_path / "cogs" / f"{n}.tif", settings=settings)
        valid, errors, _ = cog_validate(str(local), quiet=True)
        assert valid, (path, errors)
    assert report.stac_collection and storage.exists(report.stac_collection, settings=settings)
