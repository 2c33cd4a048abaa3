"""The `cmd` engine (a program, args as `--name=value`), and the subprocess runner the
python, snap and docker engines share.

A program fails when it exits non-zero; its printed lines classify the failure
(`FATAL ERROR:` fatal, `TEMPORARY ERROR:` temporary, else retriable). Programs are files of
the graph folders or listed in `graphs.allowed_programs` (see `processing.policy`).
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from geocube_ingest.errors import FatalError, TemporaryError
from geocube_ingest.processing import policy
from geocube_ingest.processing.errors import classify_output
from geocube_ingest.settings import Settings, get_settings

if TYPE_CHECKING:
    from geocube_ingest.processing.graph import Step
    from geocube_ingest.processing.runner import StepContext

log = logging.getLogger(__name__)
_KEPT_LINES = 200


def search_dirs(context: StepContext) -> list[Path]:
    """A step's files are looked up next to the graph, then in the graph folders."""
    from geocube_ingest.processing.graph import graph_dirs

    dirs = [context.graph.base_dir] if context.graph.base_dir else []
    return [*dirs, *graph_dirs(context.settings)]


def step_envs(context: StepContext, step: Step) -> list[str]:
    """The graph's `KEY=VALUE` envs, then the step's own (which win)."""
    return [*context.graph.graph.envs, *step.envs]


def long_args(args: dict[str, str]) -> list[str]:
    return [f"--{name}={value}" for name, value in args.items()]


def run_program(argv: Sequence[str], context: StepContext, label: str, envs: Iterable[str] = ()) -> None:
    """Run a program in the work folder with `envs` added; raise the classified error when it fails."""
    env = dict(os.environ)
    for item in envs:
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
        program = policy.resolve_program(step.command, search_dirs(context), context.settings)
        run_program([program, *long_args(args)], context, Path(step.command).name, step_envs(context, step))

    def check(self, step: Step, base_dirs: list[str], settings: Settings | None = None) -> list[tuple[str, str]]:
        try:
            policy.resolve_program(step.command, [Path(d) for d in base_dirs], settings or get_settings())
        except policy.StepRefused as exc:
            return [("command", str(exc))]
        return []
