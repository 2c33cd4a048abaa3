"""A Dask cluster whose workers see no file of the test: each `dask worker` runs in its own mount
namespace (`unshare -m`) with a tmpfs over /tmp, where the test's home, work folders, demo
catalogue and products live. Storage is a moto S3 server, the database PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from distributed import Client
from sqlalchemy import create_engine, text

from tests.processes import free_port
from tests.storage.servers import S3_KEY, S3_SECRET, GCSServer, S3Server, gcs_server, s3_server

__all__ = ["Cluster", "database", "gcs_cluster", "gcs_server", "isolated_cluster", "s3_server"]

# The folders workers must not see: the test's temporary folders (home, work, products) are all below it.
HIDDEN = Path("/tmp")


def dask_cli() -> str:
    """The `dask` command of this environment (scheduler and workers as the README starts them)."""
    return str(Path(sys.executable).parent / "dask")


def s3_env(s3: S3Server) -> dict[str, str]:
    """Storage settings of a process using the moto S3 server (credentials included)."""
    return {
        "GEOCUBE_INGEST_S3__ENDPOINT_URL": s3.endpoint,
        "GEOCUBE_INGEST_S3__REGION": "us-east-1",
        "GEOCUBE_INGEST_S3__ACCESS_KEY_ID": S3_KEY,
        "GEOCUBE_INGEST_S3__SECRET_ACCESS_KEY": S3_SECRET,
        "AWS_HTTPS": "NO",
        "AWS_VIRTUAL_HOSTING": "FALSE",
    }


def gcs_env(gcs: GCSServer) -> dict[str, str]:
    """Storage settings of a process using the GCS emulator."""
    return {
        "GEOCUBE_INGEST_GCS__ENDPOINT_URL": gcs.endpoint,
        "GEOCUBE_INGEST_GCS__PROJECT": "test-project",
        "GEOCUBE_INGEST_GCS__TOKEN": "anon",
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
    }


def worker_env(storage: dict[str, str]) -> dict[str, str]:
    """A worker's own environment: storage settings and credentials, no database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEOCUBE_INGEST_", "PREFECT_", "AWS_"))}
    env.update({"GEOCUBE_INGEST_HOME": str(HIDDEN / "worker-home"), **storage})
    return env


def isolated(command: list[str]) -> list[str]:
    """`command` in a new mount namespace where /tmp is an empty tmpfs."""
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is required for the cluster tests")
    for needed in (Path(sys.prefix), Path(__file__)):
        if needed.resolve().is_relative_to(HIDDEN):
            pytest.fail(f"the tmpfs over {HIDDEN} would hide {needed} from the workers: run from outside {HIDDEN}")
    script = f'mount -t tmpfs tmpfs {HIDDEN} && exec "$@"'
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "isolated", *command]


@dataclass
class Cluster:
    address: str
    storage_env: dict[str, str]
    logs: Path
    scheduler: subprocess.Popen[bytes]
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start_worker(self, name: str, threads: int = 1) -> subprocess.Popen[bytes]:
        command = [
            dask_cli(), "worker", self.address,
            "--name", name, "--nthreads", str(threads), "--nworkers", "1", "--no-nanny",
            "--no-dashboard", "--local-directory", str(HIDDEN / "dask"), "--host", "127.0.0.1",
        ]  # fmt: skip
        with (self.logs / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                isolated(command), env=worker_env(self.storage_env), stdout=log, stderr=subprocess.STDOUT, cwd="/"
            )
        self.workers[name] = process
        return process

    def wait_for_workers(self, n: int, timeout: float = 60) -> None:
        with Client(self.address, timeout=timeout) as client:
            try:
                client.wait_for_workers(n, timeout=timeout)
            except TimeoutError:
                logs = "\n".join(f"{name}: {self.log(name)[-1500:]}" for name in self.workers)
                pytest.fail(f"the isolated workers did not start (unshare -m needs root):\n{logs}")

    def jobs(self) -> dict[str, set[str]]:
        """The jobs (tile and scene tasks) each live worker ran, from its transition log."""

        def ran(dask_worker: Any) -> list[str]:
            return sorted({str(entry[0]).rsplit("-", 1)[0] for entry in dask_worker.state.log
                           if str(entry[0]).startswith(("tile-", "scene-"))})  # fmt: skip

        with Client(self.address, timeout=30) as client:
            by_address = client.run(ran)
            names = {address: w["name"] for address, w in client.scheduler_info()["workers"].items()}
            return {str(names.get(address, address)): set(keys) for address, keys in by_address.items()}

    def busy(self, prefix: str = "tile-") -> list[str]:
        """The workers running a job whose key starts with `prefix`."""
        with Client(self.address, timeout=30) as client:
            workers = client.scheduler_info()["workers"]
            processing = client.processing()
        return sorted(
            str(workers[address]["name"])
            for address, keys in processing.items()
            if address in workers and any(str(key).startswith(prefix) for key in keys)
        )

    def kill(self, name: str) -> None:
        self.workers[name].send_signal(signal.SIGKILL)
        self.workers[name].wait(10)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def close(self) -> None:
        for process in [*self.workers.values(), self.scheduler]:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def start_cluster(storage_env: dict[str, str], logs: Path, workers: int, threads: int = 1) -> Cluster:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    with (logs / "scheduler.log").open("ab") as log:
        scheduler = subprocess.Popen(
            [dask_cli(), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    cluster = Cluster(address, storage_env, logs, scheduler)
    try:
        for n in range(workers):
            cluster.start_worker(f"w{n + 1}", threads)
        cluster.wait_for_workers(workers)
    except BaseException:
        cluster.close()
        raise
    return cluster


def _cluster(storage_env: dict[str, str], tmp_path: Path) -> Iterator[Cluster]:
    logs = tmp_path / "cluster-logs"
    logs.mkdir()
    cluster = start_cluster(storage_env, logs, workers=2)
    yield cluster
    cluster.close()


@pytest.fixture
def isolated_cluster(s3_server: S3Server, tmp_path: Path) -> Iterator[Cluster]:
    """A scheduler and two one-thread workers that see storage (S3) only."""
    yield from _cluster(s3_env(s3_server), tmp_path)


@pytest.fixture
def gcs_cluster(gcs_server: GCSServer, tmp_path: Path) -> Iterator[Cluster]:
    """The same, with storage on GCS."""
    yield from _cluster(gcs_env(gcs_server), tmp_path)


@pytest.fixture
def database(pg_url: str) -> str:
    """A database of its own (the demo's AOIs have fixed names)."""
    name = f"gci_cluster_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return pg_url.rsplit("/", 1)[0] + f"/{name}"


def orchestrator_env(cluster: Cluster, storage_uri: str, database_url: str) -> dict[str, str]:
    """The orchestrating process's settings (environment): database, storage, the scheduler."""
    return {
        "GEOCUBE_INGEST_DATABASE_URL": database_url,
        "GEOCUBE_INGEST_STORAGE_URI": storage_uri,
        "GEOCUBE_INGEST_PROCESSING__DASK_SCHEDULER": cluster.address,
        **cluster.storage_env,
    }
