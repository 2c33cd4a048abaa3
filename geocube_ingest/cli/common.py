"""What several command groups share: the workflow handle and output helpers."""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from rich.console import Console

from geocube_ingest.settings import Settings, get_settings
from geocube_ingest.workflow import Workflow

# Piped output is read by programs and wide screens: rich's 80-column default would wrap tables and lines.
PIPED_WIDTH = 100_000


def make_console(*, stderr: bool = False) -> Console:
    """A console for the terminal, or unwrapped lines when the output is piped (unless COLUMNS says a width)."""
    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, width=PIPED_WIDTH, soft_wrap=True)
    return console


console = make_console()


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


# Exit statuses of the long-running commands (README "Exit statuses", and their --help).
EXIT_NOT_DONE = 1
EXIT_CODES_HELP = (
    "Exit status: 0 done; 1 the run ended with work left that needs an operator (RETRY) or another"
    " worker; 2 bad input; 128+N stopped by signal N (143 SIGTERM, 130 SIGINT) with work given back,"
    " so that a later run resumes it."
)


@contextmanager
def stoppable(settings: Settings) -> Iterator[None]:
    """SIGTERM and SIGINT stop the command within seconds, giving back its leases and provider slots."""
    from geocube_ingest import shutdown

    grace = settings.pipeline.stop_grace_seconds + 5  # the drain loop's own grace, then a margin
    with shutdown.handle_signals(lambda: give_back(settings), grace):
        yield


def give_back(settings: Settings) -> None:
    from geocube_ingest.pipeline import give_back_mine

    give_back_mine(Workflow(settings=settings, migrate=False))


def leave_stopped(settings: Settings, code: int | None = None) -> NoReturn:
    """End a command that was asked to stop: give everything back, exit at once (jobs may still run)."""
    from geocube_ingest import shutdown

    try:
        give_back(settings)
    except Exception as exc:  # the database may be gone: leases then expire on their own
        console.print(f"[dim]could not give work back ({type(exc).__name__}); it comes back when leases expire[/]")
    shutdown.exit_now(shutdown.signal_exit_code() if code is None else code)
