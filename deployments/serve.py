"""Serve every flow of geocube-ingest from this process (no work pool needed, one machine).

PREFECT_API_URL=http://127.0.0.1:4200/api python deployments/serve.py
prefect deployment run 'ingest-aoi/ingest-aoi' --params '{"payload": {...}}'
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import cast

from prefect import serve
from prefect.deployments.runner import RunnerDeployment

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.catalog import list_scenes, list_tiles
from flows.ingest import ingest_aoi
from flows.retry import retry_aoi
from flows.workers import download_worker, process_worker

TAGS = ["geocube-ingest"]

if __name__ == "__main__":
    # Called outside an event loop, `to_deployment` returns the deployment (its type says "or a coroutine").
    deployments = (
        ingest_aoi.to_deployment(name="ingest-aoi", tags=["geocube-ingest"]),
        retry_aoi.to_deployment(name="retry-aoi", tags=["geocube-ingest"]),
        list_scenes.to_deployment(name="list-scenes", tags=["geocube-ingest"]),
        list_tiles.to_deployment(name="list-tiles", tags=["geocube-ingest"]),
        # Workers stop after 10 min without work (a run may say otherwise: --param idle_seconds=...).
        download_worker.to_deployment(name="download-worker", tags=TAGS, parameters={"idle_seconds": 600}),
        process_worker.to_deployment(name="process-worker", tags=TAGS, parameters={"idle_seconds": 600}),
    )
    serve(*cast("tuple[RunnerDeployment, ...]", deployments))
