"""What several command groups share: the workflow handle and output helpers."""

from __future__ import annotations

import getpass
import json
from typing import Any

from rich.console import Console

from geocube_ingest.settings import get_settings
from geocube_ingest.workflow import Workflow

console = Console()


def workflow(database_url: str | None = None) -> Workflow:
    """The workflow of the configured database, recording the operator in the history; the
    index follows its changes (a tile failed or forced away from DONE loses its layers)."""
    from geocube_ingest.index.follow import follow

    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    settings = get_settings()
    if database_url is not None:  # the index shares the given database unless configured apart
        settings = settings.model_copy(update={"database_url": database_url})
    return follow(Workflow(database_url, settings=settings).as_actor(f"cli:{user}"), settings)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout, nothing else."""
    print(json.dumps(data, indent=2, default=str))
