"""The `docker` engine: a step is a container, run through the docker CLI (or podman's).

    docker run --rm --name gi-<id> --workdir W -v W:W [-v M:M:ro ...] --user <uid:gid>
        [-e KEY=VALUE ...] [docker.run_options ...] <image> [command ...] --name=value ...

As upstream: the step's `command` is the image (optionally followed by the command to run in
it), the work folder W is mounted at the same path so the arguments' paths hold inside, the
folders of `docker.mounts` are mounted read-only at the same path, and only the graph's envs
whose prefix `docker.env_allowlist` lists enter the container. The container's output is
classified like any program's; a container still running when the step times out is killed.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from geocube_ingest.errors import TemporaryError
from geocube_ingest.processing import policy
from geocube_ingest.processing.engines.cmd import long_args, run_program, step_envs
from geocube_ingest.settings import DockerSettings, Settings, get_settings

if TYPE_CHECKING:
    from geocube_ingest.processing.graph import Step
    from geocube_ingest.processing.runner import StepContext

log = logging.getLogger(__name__)

# An image reference: never something the CLI would read as an option.
IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$")
UNAVAILABLE = "docker is not available here"
NOT_AVAILABLE = f"{UNAVAILABLE}: the container engine does not answer"
_AVAILABILITY_SECONDS = 30.0
_availability: dict[tuple[str, ...], tuple[float, str | None]] = {}
_availability_lock = threading.Lock()


def split_command(command: str) -> tuple[str, list[str]]:
    """The image and the command run in it (`"registry/tool:1 python /app/run.py"`)."""
    try:
        parts = shlex.split(command)
    except ValueError as exc:
        raise policy.StepRefused(f"docker command {command!r}: {exc}") from None
    if not parts or not IMAGE.match(parts[0]):
        raise policy.StepRefused(f"docker command {command!r} does not start with an image name")
    return parts[0], parts[1:]


def container_envs(envs: Iterable[str], allowlist: Sequence[str]) -> tuple[list[str], list[str]]:
    """The `KEY=VALUE` envs allowed into the container (upstream's prefix whitelist), and the dropped keys."""
    prefixes = [p for p in allowlist if p]
    kept, dropped = [], []
    for item in envs:
        if any(item.startswith(prefix) for prefix in prefixes):
            kept.append(item)
        else:
            dropped.append(item.partition("=")[0])
    return kept, dropped


def _user(settings: DockerSettings) -> list[str]:
    if settings.user is None:
        return ["--user", f"{os.getuid()}:{os.getgid()}"]
    return ["--user", settings.user] if settings.user else []


def run_command(
    step_command: str, args: dict[str, str], envs: Iterable[str], work_dir: Path, settings: DockerSettings, name: str
) -> list[str]:
    """The whole `docker run` command line of a step."""
    image, inner = split_command(step_command)
    work = str(Path(work_dir).absolute())
    argv = [*settings.command, "run", "--rm", "--name", name, "--workdir", work, "--volume", f"{work}:{work}"]
    for mount in settings.mounts:
        folder = str(Path(mount).expanduser().absolute())
        argv += ["--volume", f"{folder}:{folder}:ro"]
    argv += _user(settings)
    kept, _ = container_envs(envs, settings.env_allowlist)
    for item in kept:
        argv += ["--env", item]
    return [*argv, *settings.run_options, image, *inner, *long_args(args)]


def _probe(settings: DockerSettings) -> str | None:
    argv = [*settings.command, "version"]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, errors="replace", timeout=settings.check_timeout_seconds
        )
    except FileNotFoundError:
        return f"{UNAVAILABLE}: {settings.command[0]!r} is not installed (docker.command)"
    except subprocess.TimeoutExpired:
        return f"{NOT_AVAILABLE} within {settings.check_timeout_seconds:g} s"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [""])[-1]
        log.warning("%s: %s exited %d: %s", NOT_AVAILABLE, " ".join(argv), done.returncode, last)
        return NOT_AVAILABLE
    return None


def availability(settings: DockerSettings) -> str | None:
    """None when the container engine answers, else why not; remembered for a few seconds."""
    if not settings.command:
        return f"{UNAVAILABLE}: docker.command is empty"
    key = (*settings.command, os.environ.get("DOCKER_HOST", ""))
    now = time.monotonic()
    with _availability_lock:
        cached = _availability.get(key)
    if cached is not None and now - cached[0] < _AVAILABILITY_SECONDS:
        return cached[1]
    result = _probe(settings)
    with _availability_lock:
        _availability[key] = (time.monotonic(), result)
    return result


def forget_availability() -> None:
    with _availability_lock:
        _availability.clear()


def _kill(name: str, settings: DockerSettings) -> None:
    """Stop and remove a container whose CLI was killed (its `--rm` died with it); quiet when it is gone."""
    for action in ("kill", "rm"):
        argv = [*settings.command, action, *(["--force"] if action == "rm" else []), name]
        try:
            subprocess.run(argv, capture_output=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("could not %s container %s: %s", action, name, exc)


class DockerEngine:
    name = "docker"

    def run(self, step: Step, args: dict[str, str], context: StepContext) -> None:
        docker = context.settings.docker
        problem = availability(docker)
        if problem is not None:
            raise TemporaryError(problem)  # the engine may come back: try the task again later
        envs = step_envs(context, step)
        _, dropped = container_envs(envs, docker.env_allowlist)
        if dropped:
            log.info("docker step: envs %s are not in docker.env_allowlist, not passed", ", ".join(dropped))
        name = f"gi-{uuid.uuid4().hex[:16]}"
        argv = run_command(step.command, args, envs, context.work_dir, docker, name)
        try:
            run_program(argv, context, f"docker {split_command(step.command)[0]}")
        except TemporaryError:
            _kill(name, docker)  # a time-out stops the CLI, not the container
            raise

    def check(self, step: Step, base_dirs: list[str], settings: Settings | None = None) -> list[tuple[str, str]]:
        settings = settings or get_settings()
        problems: list[tuple[str, str]] = []
        try:
            split_command(step.command)
        except policy.StepRefused as exc:
            problems.append(("command", str(exc)))
        problem = availability(settings.docker)
        if problem is not None:
            problems.append(("engine", problem))
        return problems
