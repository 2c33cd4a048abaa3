"""The download job of one scene: providers in order, history, outcome, storage, clean-up."""

from __future__ import annotations

import hashlib
import itertools
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from geocube_ingest import storage
from geocube_ingest.download import download_scene, fetch_product, scene_work_dir
from geocube_ingest.download.job import _exclusive
from geocube_ingest.download.limits import provider_slot
from geocube_ingest.settings import DownloadProviderSettings, Settings
from geocube_ingest.status import Status
from geocube_ingest.workflow import Workflow
from tests.download.conftest import CDSE_PASSWORD, CDSE_USER, S2_NAME, SceneFactory, make_settings
from tests.download.servers import CdseServer, FileServer
from tests.storage.servers import GCSServer, S3Server

T54PXA = "05edf2bb-d103-49f1-a677-9e474138d84f"


def stored_product(settings: Settings, scene_id: int, workflow: Workflow, root: str | None = None) -> str:
    scene = workflow.scene(scene_id)
    assert scene.date is not None
    url = storage.tile_output_uri(
        root or settings.resolved_storage_uri,
        scene.aoi,
        scene.source_id,
        scene.source_id,
        scene.date,
        "product",
        "SAFE",
    )
    return url + ".zip"


def zip_tree_digest(data: bytes | Path) -> dict[str, str]:
    import io

    source = io.BytesIO(data) if isinstance(data, bytes) else data
    with zipfile.ZipFile(source) as zf:
        return {
            name.split("/", 1)[1]: hashlib.md5(zf.read(name)).hexdigest()
            for name in zf.namelist()
            if not name.endswith("/")
        }


def messages(workflow: Workflow, scene_id: int) -> list[str]:
    return [e.message for e in workflow.events("scene", scene_id)]


def test_providers_in_order_first_failures_in_the_history(
    workflow: Workflow,
    add_scene: SceneFactory,
    tmp_path: Path,
    file_server: FileServer,
    cdse_server: CdseServer,
    s2_zip: bytes,
    s2_safe: Path,
) -> None:
    """Local archive: not found; CDSE: product offline (temporary); URL: found. The last is never asked."""
    (tmp_path / "archive").mkdir()
    cdse_server.serve(T54PXA, s2_zip)
    cdse_server.entities[T54PXA]["Online"] = False
    link = file_server.add(f"/p/{S2_NAME}.zip", s2_zip)
    never = FileServer().start()
    providers = [
        DownloadProviderSettings(name="archive", kind="local", path=str(tmp_path / "archive")),
        DownloadProviderSettings(
            name="cdse",
            kind="cdse",
            url=cdse_server.odata_url,
            token_url=cdse_server.token_url,
            username=CDSE_USER,
            password=SecretStr(CDSE_PASSWORD),
        ),
        DownloadProviderSettings(name="links", kind="url"),
        DownloadProviderSettings(name="never", kind="asf", url=never.url(""), token=SecretStr("unused-token")),
    ]
    settings = make_settings(tmp_path, *providers)
    scene_id = add_scene(workflow, uuid=T54PXA, metadata={"download_link": link})
    try:
        outcome = download_scene(workflow, scene_id, settings=settings)
    finally:
        never.stop()
    assert outcome.kind == "DONE", outcome.message
    history = messages(workflow, scene_id)
    tried = [m for m in history if "provider" in m]
    assert tried[0].startswith("download provider archive: not found:")
    assert tried[1].startswith("download provider cdse: temporary:") and "offline" in tried[1]
    assert tried[2] == f"downloaded by provider links ({len(s2_zip)} bytes)"
    assert len(tried) == 3
    assert never.requests == []
    # CopyProductToStorage stored the product, zipped, with the same content.
    url = stored_product(settings, scene_id, workflow)
    assert zip_tree_digest(Path(storage.filesystem(url)[1])) == zip_tree_digest(s2_zip)
    assert not scene_work_dir(settings, scene_id).exists()


def test_not_found_anywhere_gives_retry_or_failed(workflow: Workflow, add_scene: SceneFactory, tmp_path: Path) -> None:
    (tmp_path / "archive").mkdir()
    settings = make_settings(
        tmp_path,
        DownloadProviderSettings(name="archive", kind="local", path=str(tmp_path / "archive")),
        DownloadProviderSettings(name="links", kind="url"),
    )
    retriable = add_scene(workflow, "S2B_MSIL1C_20180102T000000_N0206_R051_T31TDH_20180102T000000", is_retriable=True)
    final = add_scene(workflow, "S2B_MSIL1C_20180103T000000_N0206_R051_T31TDH_20180103T000000")
    first = download_scene(workflow, retriable, settings=settings)
    second = download_scene(workflow, final, settings=settings)
    assert first.kind == "RETRY"
    assert second.kind == "FAILED"
    for outcome in (first, second):
        assert "product not found or unavailable" in outcome.message
        assert "archive: not found" in outcome.message and "links: not found" in outcome.message
    assert not scene_work_dir(settings, retriable).exists()


def test_temporary_failures_give_the_task_back(
    workflow: Workflow, add_scene: SceneFactory, tmp_path: Path, file_server: FileServer
) -> None:
    link = file_server.add("/p.zip", b"x")
    file_server.fail("/p.zip", *([503] * 10))
    settings = make_settings(tmp_path, DownloadProviderSettings(name="links", kind="url"), max_retries=1)
    scene_id = add_scene(workflow, metadata={"download_link": link}, is_retriable=True)
    outcome = download_scene(workflow, scene_id, settings=settings)
    assert outcome.kind == "TEMPORARY"
    assert "HTTP 503" in outcome.message


def test_an_unsafe_archive_fails_even_when_retriable(
    workflow: Workflow, add_scene: SceneFactory, tmp_path: Path, file_server: FileServer
) -> None:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(f"{S2_NAME}.SAFE/manifest.safe", b"m")
        zf.writestr("../../../evil", b"pwned")
    link = file_server.add(f"/{S2_NAME}.zip", buffer.getvalue())
    settings = make_settings(tmp_path, DownloadProviderSettings(name="links", kind="url"))
    scene_id = add_scene(workflow, metadata={"download_link": link}, is_retriable=True)
    outcome = download_scene(workflow, scene_id, settings=settings)
    assert outcome.kind == "FAILED"
    assert "escapes the destination" in outcome.message
    assert not (tmp_path / "evil").exists()
    assert not scene_work_dir(settings, scene_id).exists()
    assert not Path(settings.resolved_storage_uri).exists()


def test_the_worker_reports_the_outcome_and_tiles_become_due(
    wf: Workflow, add_scene: SceneFactory, tmp_path: Path, file_server: FileServer, s2_zip: bytes
) -> None:
    link = file_server.add(f"/{S2_NAME}.zip", s2_zip)
    settings = make_settings(tmp_path, DownloadProviderSettings(name="links", kind="url"))
    scene_id = add_scene(wf, metadata={"download_link": link})
    (lease,) = wf.claim("scene", "worker-1")
    progress: list[tuple[int, int | None]] = []
    outcome = download_scene(wf, lease.id, settings=settings, progress=lambda d, t: progress.append((d, t)))
    assert wf.report(lease, outcome)
    assert wf.scene(scene_id).status == Status.DONE
    assert [t.status for t in wf.tiles(scene_id=scene_id)] == [Status.PENDING]
    assert progress[-1] == (len(s2_zip), len(s2_zip))


@pytest.mark.parametrize("protocol", ["s3", "gs"])
def test_storage_uri_of_the_payload_wins(
    protocol: str,
    request: pytest.FixtureRequest,
    wf: Workflow,
    add_scene: SceneFactory,
    tmp_path: Path,
    file_server: FileServer,
    s2_zip: bytes,
) -> None:
    link = file_server.add(f"/{S2_NAME}.zip", s2_zip)
    settings = make_settings(tmp_path, DownloadProviderSettings(name="links", kind="url"))
    if protocol == "s3":
        s3: S3Server = request.getfixturevalue("s3_server")
        settings = settings.model_copy(update={"s3": s3.settings()})
        bucket = s3.new_bucket()
    else:
        gcs: GCSServer = request.getfixturevalue("gcs_server")
        settings = settings.model_copy(update={"gcs": gcs.settings()})
        bucket = gcs.new_bucket()
    root = f"{protocol}://{bucket}/ingested"
    settings = settings.with_overrides({"security": {"storage_roots": [root]}})
    scene_id = add_scene(wf, metadata={"download_link": link}, storage_uri=root)
    outcome = download_scene(wf, scene_id, settings=settings)
    assert outcome.kind == "DONE", outcome.message
    url = stored_product(settings, scene_id, wf, root)
    assert url.startswith(f"{protocol}://{bucket}/ingested/DownloadTest/{S2_NAME}/tiles/{S2_NAME}/20180101_")
    assert storage.listdir(storage.join(root, "DownloadTest", S2_NAME, "tiles", S2_NAME), settings=settings) == [url]
    stored = storage.get_file(url, tmp_path / "back.zip", settings=settings)
    assert zip_tree_digest(stored) == zip_tree_digest(s2_zip)
    assert not Path(settings.resolved_storage_uri).exists()


def test_a_second_job_of_the_same_scene_waits_its_turn(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    work_dir = scene_work_dir(settings, 7)
    with _exclusive(work_dir):
        from geocube_ingest.errors import TemporaryError

        with pytest.raises(TemporaryError, match="another process"), _exclusive(work_dir):
            pass
    with _exclusive(work_dir):  # released: free again
        pass
    assert list(work_dir.parent.iterdir()) == []  # no lock file left per scene


def test_per_provider_concurrency_limit(
    wf: Workflow, add_scene: SceneFactory, tmp_path: Path, file_server: FileServer, s2_zip: bytes
) -> None:
    config = DownloadProviderSettings(name="slow-links", kind="url", max_concurrency=1)
    settings = make_settings(tmp_path, config, chunk_bytes=16 * 1024)
    ids = []
    for day in (1, 2, 3):
        name = f"S2A_MSIL1C_2018010{day}T105441_N0206_R051_T31TDH_2018010{day}T124911"
        link = file_server.add(f"/{name}.zip", s2_zip[:200_000], chunk=20_000, delay=0.02)
        ids.append(add_scene(wf, name, metadata={"download_link": link}))
    errors: list[Any] = []
    ticks = itertools.count()
    seen: dict[int, list[int]] = {i: [] for i in ids}

    def fetch(scene_id: int) -> None:
        def progress(_done: int, _total: int | None) -> None:
            seen[scene_id].append(next(ticks))

        try:
            fetch_product(wf, wf.scene(scene_id), tmp_path / f"w{scene_id}", settings, progress)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fetch, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # Progress is only reported while a slot is held: with one slot, transfers never interleave.
    spans = sorted((min(t), max(t)) for t in seen.values())
    assert all(len(t) > 1 for t in seen.values())
    assert all(a[1] < b[0] for a, b in itertools.pairwise(spans))
    assert len(file_server.paths()) == 3


def test_provider_slot_counts_per_name(wf: Workflow) -> None:
    inside = 0
    peak = 0
    lock = threading.Lock()
    gate = threading.Barrier(4, timeout=5)

    def work() -> None:
        nonlocal inside, peak
        gate.wait()
        with provider_slot(wf, "limited-test", 2):
            with lock:
                inside += 1
                peak = max(peak, inside)
            threading.Event().wait(0.3)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 2
    assert wf.slots.usage() == []  # every slot given back
