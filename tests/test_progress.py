"""The CLI's progress bars say why work waits: leases of other hosts, temporary errors, provider slots."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from geocube_ingest.progress import WorkflowProgress
from geocube_ingest.settings import Settings
from geocube_ingest.workflow import Outcome, Workflow
from tests.workflow.helpers import series


def test_progress_line_shows_why_work_waits(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'workflow.db'}")
    workflow = Workflow(settings=settings)
    workflow.ingest("A", series(4, linked=False))
    workflow.claim("scene", "far-host:31:download", limit=1, lease_seconds=45)
    [given_back] = workflow.claim("scene", "w", limit=1)
    workflow.report(given_back, Outcome.temporary("HTTP 503", delay=90))
    slots = workflow.slots
    slots.take(slots.queue("cdse", 1, "far-host:31:download", aoi="A"))
    slots.queue("cdse", 1, "here:1:download", aoi="A")

    console = Console(record=True, width=400, force_terminal=False)
    with WorkflowProgress("A", settings, console=console):
        pass
    text = console.export_text()
    [downloads] = [line for line in text.splitlines() if line.startswith("downloads")]
    assert "waiting: 1 scene leased by far-host:31:download (on host far-host) until " in downloads
    assert "1 scene given back after a temporary error, due again at " in downloads
    assert "1 download waiting for a slot of provider cdse (1 of 1 in use)" in downloads
    [processing] = [line for line in text.splitlines() if line.startswith("processing")]
    assert "waiting" not in processing
