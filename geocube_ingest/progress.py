"""Progress of an AOI, drawn from the workflow database (the CLI's bars, and notebooks')."""

from __future__ import annotations

import threading

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from geocube_ingest.settings import Settings, get_settings
from geocube_ingest.workflow import Workflow


class WorkflowProgress:
    """Download and processing bars fed by polling the workflow database."""

    def __init__(self, aoi: str, settings: Settings | None = None, *, console: Console | None = None):
        self.aoi = aoi
        self.settings = settings or get_settings()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description:<11}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )

    def __enter__(self) -> WorkflowProgress:
        self.progress.start()
        self.downloads = self.progress.add_task("downloads", total=None, detail="")
        self.tiles = self.progress.add_task("processing", total=None, detail="")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._update()
        self.progress.stop()

    def _update(self) -> None:
        workflow = Workflow(settings=self.settings, migrate=False)
        if not workflow.aoi_exists(self.aoi):
            return
        summary = workflow.summary(self.aoi)
        for task_id, counts in ((self.downloads, summary.scenes), (self.tiles, summary.tiles)):
            finished = counts.done + counts.failed + counts.retry
            problems = f"[dark_orange]{counts.retry} retry[/] " if counts.retry else ""
            problems += f"[red]{counts.failed} failed[/]" if counts.failed else ""
            self.progress.update(task_id, total=counts.total or None, completed=finished, detail=problems)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self._update()
            except Exception:  # progress must never break the run
                continue
