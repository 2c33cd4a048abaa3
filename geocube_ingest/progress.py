"""Progress of an AOI, drawn from the workflow database (the CLI's bars, and notebooks').

Next to the counts, each bar says why its work waits, when it does: leases held by
workers elsewhere (who, until when), work given back after a temporary error (due again
when), downloads queued for a provider slot.
"""

from __future__ import annotations

import threading
from contextlib import suppress

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from geocube_ingest.settings import Settings, get_settings
from geocube_ingest.workflow import Workflow
from geocube_ingest.workflow.waiting import lease_reasons, slot_reasons


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
        with suppress(Exception):  # progress must never hide how the run ended
            self._update()
        self.progress.stop()

    def _update(self) -> None:
        workflow = Workflow(settings=self.settings, migrate=False)
        if not workflow.aoi_exists(self.aoi):
            return
        summary = workflow.summary(self.aoi)
        status = workflow.work_status(self.aoi, at_most=1)  # only who holds what: no full counts
        waits = lease_reasons(status) + slot_reasons(workflow.slots.usage(), self.aoi)
        bars = ((self.downloads, summary.scenes, "scene"), (self.tiles, summary.tiles, "tile"))
        for task_id, counts, kind in bars:
            finished = counts.done + counts.failed + counts.retry
            problems = f"[dark_orange]{counts.retry} retry[/] " if counts.retry else ""
            problems += f"[red]{counts.failed} failed[/]" if counts.failed else ""
            why = "; ".join(reason.text for reason in waits if reason.kind == kind)
            detail = f"{problems} [yellow]waiting: {escape(why)}[/]" if why else problems
            self.progress.update(task_id, total=counts.total or None, completed=finished, detail=detail.strip())

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self._update()
            except Exception:  # progress must never break the run
                continue
