"""What several command groups share: the workflow handle and output helpers."""

from __future__ import annotations

import getpass
import json
from typing import Any

from rich.console import Console

from geocube_ingest.workflow import Workflow

console = Console()


def workflow(database_url: str | None = None) -> Workflow:
    """The workflow of the configured database, recording the operator in the history."""
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return Workflow(database_url).as_actor(f"cli:{user}")


def print_json(data: Any) -> None:
    """Machine-readable output on stdout, nothing else."""
    print(json.dumps(data, indent=2, default=str))
