"""The flows' Prefect side on the session's Prefect server: search as tasks that retry what may
succeed later, workers' task runs named for what they do, and the CLI's one-line errors
through Prefect and without it."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect import flow

from flows.common import run_line
from flows.steps import dropped_text, search
from flows.workers import download_worker
from geocube_ingest.catalogue import SceneSearch
from geocube_ingest.catalogue.search import SearchUnsupported
from geocube_ingest.demo.build import AOI_NAME, DemoWorld, overrides, prepare_index
from geocube_ingest.index import get_index
from geocube_ingest.payload import Payload
from geocube_ingest.pipeline import DrainReport, prepare_ingestion
from geocube_ingest.settings import get_settings
from geocube_ingest.workflow import Workflow
from tests.pipeline.conftest import settings_for

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "geocube_ingest.cli.main"]


@pytest.fixture
def flaky_catalogue(demo_world: DemoWorld) -> Iterator[tuple[str, list[int]]]:
    """The demo catalogue over HTTP on 127.0.0.1, answering 503 to its first GET; yields its URL
    and the statuses it answered."""
    body = demo_world.catalogue.read_bytes()
    answered: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = 503 if not answered else 200
            answered.append(status)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body) if status == 200 else 0))
            self.end_headers()
            if status == 200:
                self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/catalogue.json", answered
    finally:
        server.shutdown()
        server.server_close()


def _task_runs(flow_run_id: UUID | None) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    assert flow_run_id is not None
    with get_client(sync_client=True) as client:
        return client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))


def _artifact(key: str) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey

    with get_client(sync_client=True) as client:
        [latest] = client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=[key]))
        )
    return latest


def test_search_asks_each_provider_as_a_task_and_retries_only_temporary_errors(
    prefect_api: str, demo_world: DemoWorld, flaky_catalogue: tuple[str, list[int]], tmp_path: Path
) -> None:
    url, answered = flaky_catalogue
    providers = [
        {"name": "missing", "kind": "stac-static", "url": str(tmp_path / "nothing.json")},  # refused: not retried
        {"name": "flaky", "kind": "stac-static", "url": url},  # 503 once: retried, then answers
    ]
    settings = get_settings().with_overrides(
        {"catalogue": {"providers": providers}, "prefect": {"task_retries": 2, "task_retry_delay_seconds": 0}}
    )
    payload = Payload.parse(demo_world.payload)

    @flow
    def find() -> list[str]:
        return [s.source_id for s in search(payload, settings)]

    state = find(return_state=True)
    assert len(state.result()) == 9
    assert answered == [503, 200]
    runs = {r.name: r for r in _task_runs(state.state_details.flow_run_id)}
    assert set(runs) == {"search missing", "search flaky"}
    assert runs["search missing"].run_count == 1 and runs["search missing"].state_type.value == "FAILED"
    assert runs["search flaky"].run_count == 2 and runs["search flaky"].state_type.value == "COMPLETED"
    scenes = _artifact(f"aoi-{AOI_NAME.lower()}-scenes")
    assert scenes.description == "10 found by flaky: 9 kept, 1 over the cloud limit"
    rows = json.loads(scenes.data)
    assert len(rows) == 10 and [r["kept"] for r in rows].count("yes") == 9
    [dropped] = [r for r in rows if r["kept"] != "yes"]
    assert dropped["kept"].startswith("no: over the cloud limit (") and dropped["kept"].endswith(" > 90)")

    # Every provider refusing: the combined error, as the in-process search raises it.
    refusing = settings.with_overrides({"catalogue": {"providers": providers[:1]}})

    @flow
    def refused() -> None:
        search(payload, refusing)

    with pytest.raises(SearchUnsupported, match=r"^no catalogue provider answered: missing: no STAC file at "):
        refused()


def test_a_worker_names_its_batches_for_what_they_do(prefect_api: str, demo_world: DemoWorld, tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'workflow.db'}"
    settings = settings_for(demo_world, database_url, tmp_path)
    workflow = Workflow(settings=settings)
    payload = Payload.parse(demo_world.payload)
    prepare_ingestion(payload, workflow=workflow, index=get_index(settings), settings=settings)
    given = {
        **overrides(demo_world),
        "database_url": database_url,
        "storage_uri": str(tmp_path / "storage"),
        "work_dir": str(tmp_path / "work"),
    }
    state = download_worker(idle_seconds=0, max_batches=1, settings=given, return_state=True)
    result = state.result()
    assert result["batches"] == 1 and result["outcomes"]["DONE"] >= 1
    assert [r.name for r in _task_runs(state.state_details.flow_run_id)] == ["download batch #1"]
    assert workflow.summary(AOI_NAME).scenes.done == result["outcomes"]["DONE"]


def test_the_run_line_says_what_was_downloaded_and_processed() -> None:
    report = DrainReport(batches=12)
    outcomes = {"scene": Counter(DONE=9), "tile": Counter(DONE=7, RETRY=1, FAILED=1)}
    assert run_line(report, outcomes) == (
        "This run: 9 scenes downloaded, 7 tiles processed (12 batches); tiles: 1 FAILED, 1 RETRY."
    )
    assert run_line(DrainReport(batches=2), {"scene": Counter(DONE=2)}) == (
        "This run: 2 scenes downloaded, 0 tiles processed (2 batches)."
    )
    dropped = [("a", "over the cloud limit (95 > 90)"), ("b", "productType 'GRD'")]
    found = SceneSearch([], False, "cdse", dropped=dropped)
    assert dropped_text(found) == "2 found by cdse: 0 kept, 1 over the cloud limit, 1 productType"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("mode", ["--prefect", "--no-prefect"])
def test_a_catalogue_that_does_not_answer_is_one_line_and_exit_2(
    prefect_api: str, demo_world: DemoWorld, tmp_path: Path, mode: str
) -> None:
    home = tmp_path / "home"
    prepare_index(get_index(get_settings().with_overrides({"home": str(home)})))
    down = [{"name": "down", "kind": "stac", "preset": "earth-search", "url": f"http://127.0.0.1:{_closed_port()}/"}]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEOCUBE_INGEST_")}
    env.update(
        {
            "GEOCUBE_INGEST_HOME": str(home),
            "GEOCUBE_INGEST_CATALOGUE__PROVIDERS": json.dumps(down),
            "GEOCUBE_INGEST_PREFECT__TASK_RETRIES": "1",  # retried once through Prefect, then the same line
            "GEOCUBE_INGEST_PREFECT__TASK_RETRY_DELAY_SECONDS": "0",
            "PREFECT_API_URL": prefect_api,
            "PREFECT_HOME": str(home / "prefect"),
        }
    )
    done = subprocess.run(
        [*CLI, "ingest", str(demo_world.payload_path), mode], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: no catalogue provider answered: down: ") and "Connection refused" in line
    assert "Traceback" not in done.stdout
