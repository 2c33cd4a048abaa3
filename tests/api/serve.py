"""`geocube-ingest serve` in a subprocess, configured through the environment, and curl as the seeds use it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.processes import free_port, stop_process


def command() -> list[str]:
    script = Path(sys.executable).with_name("geocube-ingest")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "geocube_ingest.cli.main"]


@contextmanager
def serve(env: dict[str, str], secrets: tuple[str, ...] = (), startup_seconds: float = 30) -> Iterator[str]:
    """Start the server with these GEOCUBE_INGEST_* variables; yields its URL; checks no secret was printed."""
    with serve_process(env, secrets, startup_seconds) as (url, _process):
        yield url


@contextmanager
def serve_process(
    env: dict[str, str], secrets: tuple[str, ...] = (), startup_seconds: float = 30
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`serve`, also giving the server's process (to watch its memory, say)."""
    port = free_port()
    process = subprocess.Popen(
        [*command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            try:
                if httpx.get(f"{url}/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read() if process.stdout else ""
                raise AssertionError(f"geocube-ingest serve did not start:\n{output}")
            time.sleep(0.1)
        yield url, process
    finally:
        stop_process(process)
        output = process.stdout.read() if process.stdout else ""
        for secret in secrets:
            assert secret not in output  # never printed


def curl(*args: str, cwd: Path | None = None) -> tuple[int, str]:
    """Run curl (installed by scripts/test.sh); returns (HTTP status, body)."""
    done = subprocess.run(
        ["curl", "-sS", "-w", "\n%{http_code}", *args], capture_output=True, text=True, timeout=60, check=True, cwd=cwd
    )
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body
