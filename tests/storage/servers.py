"""Object-store servers for tests: a moto S3 server and a GCS emulator, each a real process on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from geocube_ingest.settings import GCSSettings, S3Settings
from tests.processes import free_port, stop_process

S3_KEY = "AKIAMOTOTESTKEY00001"
S3_SECRET = "moto-secret-9f8e7d6c5b4a"


def _executable(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (pip install -e '.[dev]')")
    return found


def _wait(url: str, process: subprocess.Popen[bytes], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with status {process.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    pytest.fail(f"{what} did not start within {timeout} s")


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def settings(self) -> S3Settings:
        return S3Settings(
            endpoint_url=self.endpoint,
            region="us-east-1",
            access_key_id=SecretStr(S3_KEY),
            secret_access_key=SecretStr(S3_SECRET),
        )

    def new_bucket(self) -> str:
        import boto3

        name = f"test-{uuid.uuid4().hex[:12]}"
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=S3_KEY,
            aws_secret_access_key=S3_SECRET,
            region_name="us-east-1",
        )
        # us-east-1 takes no LocationConstraint (and s3fs.mkdir fails there): create it with boto3.
        client.create_bucket(Bucket=name)
        return name


@dataclass(frozen=True)
class GCSServer:
    endpoint: str

    def settings(self) -> GCSSettings:
        return GCSSettings(endpoint_url=self.endpoint, project="test-project", token="anon")

    def new_bucket(self) -> str:
        name = f"test-{uuid.uuid4().hex[:12]}"
        response = httpx.post(
            f"{self.endpoint}/storage/v1/b", params={"project": "test-project"}, json={"name": name}, timeout=10
        )
        response.raise_for_status()
        return name


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A moto S3 server (`moto_server -H 127.0.0.1 -p PORT`) for the whole session."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    process = subprocess.Popen(
        [_executable("moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    endpoint = f"http://127.0.0.1:{port}"
    _wait(endpoint, process, "moto_server")
    yield S3Server(endpoint)
    stop_process(process)
    log.close()


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GCSServer]:
    """The gcp-storage-emulator (PyPI) in memory for the whole session."""
    port = free_port()
    log = (tmp_path_factory.mktemp("gcs") / "gcs.log").open("wb")
    env = {**os.environ, "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}
    process = subprocess.Popen(
        [_executable("gcp-storage-emulator"), "start", "--host=127.0.0.1", f"--port={port}", "--in-memory"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    endpoint = f"http://127.0.0.1:{port}"
    _wait(endpoint, process, "gcp-storage-emulator")
    yield GCSServer(endpoint)
    stop_process(process)
    log.close()
