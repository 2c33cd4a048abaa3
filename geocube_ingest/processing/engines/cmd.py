"""The `cmd` engine (any program, args as `--name=value`) and the `snap` engine (SNAP's
gpt, args as `-Pname=value`), and the subprocess runner the python engine shares.

A program fails when it exits non-zero; its printed lines classify the failure
(`FATAL ERROR:` fatal, `TEMPORARY ERROR:` temporary, else retriable).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from geocube_ingest.errors import FatalError, TemporaryError
from geocube_ingest.processing.errors import classify_output

if TYPE_CHECKING:
    from geocube_ingest.processing.graph import Step
    from geocube_ingest.processing.runner import StepContext

log = logging.getLogger(__name__)
_KEPT_LINES = 200


def search_dirs(context: StepContext) -> list[Path]:
    """Relative commands are looked up next to the graph, then in the graph folders."""
    from geocube_ingest.processing.graph import graph_dirs

    dirs = [context.graph.base_dir] if context.graph.base_dir else []
    return [*dirs, *graph_dirs(context.settings)]


def find_file(command: str, dirs: Iterable[Path]) -> Path | None:
    path = Path(command).expanduser()
    if path.is_absolute():
        return path if path.is_file() else None
    for folder in dirs:
        if (folder / path).is_file():
            return folder / path
    return path.resolve() if path.is_file() else None


def find_program(command: str, dirs: Iterable[Path]) -> str | None:
    """A path (absolute, or relative to the graph folders) or a name on PATH."""
    if "/" in command or command.startswith("."):
        found = find_file(command, dirs)
        return str(found) if found else None
    return shutil.which(command)


def long_args(args: dict[str, str]) -> list[str]:
    return [f"--{name}={value}" for name, value in args.items()]


def run_program(argv: Sequence[str], context: StepContext, label: str) -> None:
    """Run a program in the work folder; raise the classified error when it fails."""
    env = dict(os.environ)
    for item in context.graph.graph.envs:
        key, _, value = item.partition("=")
        env[key] = value
    timeout = context.settings.processing.command_timeout_seconds
    log.debug("%s: %s", label, " ".join(argv))
    tail: deque[str] = deque(maxlen=_KEPT_LINES)
    try:
        process = subprocess.Popen(
            list(argv),
            cwd=context.work_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except FileNotFoundError:
        raise FatalError(f"{label}: program {argv[0]!r} not found") from None
    except PermissionError:
        raise FatalError(f"{label}: program {argv[0]!r} is not executable") from None
    try:
        stdout, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise TemporaryError(f"{label}: killed after {timeout:g} s") from None
    for line in stdout.splitlines():
        tail.append(line)
        log.debug("%s | %s", label, line)
    context.output.extend(tail)
    if process.returncode != 0:
        raise classify_output(tail, process.returncode, label)


class CmdEngine:
    name = "cmd"

    def run(self, step: Step, args: dict[str, str], context: StepContext) -> None:
        program = find_program(step.command, search_dirs(context))
        if program is None:
            raise FatalError(f"command {step.command!r} not found")
        run_program([program, *long_args(args)], context, Path(step.command).name)

    def check(self, step: Step, base_dirs: list[str]) -> list[tuple[str, str]]:
        if find_program(step.command, [Path(d) for d in base_dirs]) is None:
            return [("command", f"program {step.command!r} not found (PATH or graph folders)")]
        return []


class SnapEngine:
    """Upstream's `snap` steps: `gpt <graph.xml> -x -q <parallelism> -Pname=value...`."""

    name = "snap"

    def run(self, step: Step, args: dict[str, str], context: StepContext) -> None:
        graph_xml = find_file(step.command, search_dirs(context))
        if graph_xml is None:
            raise FatalError(f"SNAP graph {step.command!r} not found")
        gpt = context.settings.processing.snap_gpt
        parallelism = context.config.get("snap_cpu_parallelism", "1")
        argv = [gpt, str(graph_xml), "-x", "-q", parallelism, *(f"-P{k}={v}" for k, v in args.items())]
        run_program(argv, context, f"gpt {graph_xml.name}")

    def check(self, step: Step, base_dirs: list[str]) -> list[tuple[str, str]]:
        if find_file(step.command, [Path(d) for d in base_dirs]) is None:
            return [("command", f"SNAP graph {step.command!r} not found in the graph folders")]
        return []
