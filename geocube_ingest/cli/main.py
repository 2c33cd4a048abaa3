"""`geocube-ingest`: the command line.

Every user error prints one readable line on stderr and exits with status 2; each
command group lives in its own module and is registered below.
"""

from __future__ import annotations

import logging
import sys

import typer
from rich.markup import escape

from geocube_ingest.cli.common import make_console
from geocube_ingest.errors import GeocubeIngestError

app = typer.Typer(
    name="geocube-ingest",
    help="Turn an area, dates and a processing graph into indexed analysis-ready layers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
err_console = make_console(stderr=True)


# Command groups, each a module of geocube_ingest.cli with a `register(app)` function.
GROUPS = ("ingest", "workflow", "catalog", "download", "worker", "graph", "variable", "serve")


def _register() -> None:
    import importlib

    for name in GROUPS:
        importlib.import_module(f"geocube_ingest.cli.{name}").register(app)


_register()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except GeocubeIngestError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
