"""The `docker` engine: its command line, the env allow-list, "docker is not available", and
real containers run by podman (Debian's `podman` + `runc`, which scripts/test.sh installs),
on a tiny image imported from a root filesystem built here (no registry needed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from geocube_ingest import storage
from geocube_ingest.errors import TemporaryError
from geocube_ingest.processing import process_tile
from geocube_ingest.processing.engines.docker import (
    NOT_AVAILABLE,
    availability,
    container_envs,
    forget_availability,
    run_command,
)
from geocube_ingest.processing.policy import StepRefused
from geocube_ingest.processing.validate import check_graph
from geocube_ingest.settings import DockerSettings, get_settings
from tests.processing.conftest import TileFactory
from tests.processing.test_engines import one_step_graph, script
from tests.processing.test_job import fixed, out, put_layer, write_graph

IMAGE = "localhost/geocube-ingest-test:1"


@pytest.fixture(autouse=True)
def fresh_availability() -> Iterator[None]:
    forget_availability()
    yield
    forget_availability()


def test_the_command_line_follows_upstream(tmp_path: Path) -> None:
    settings = DockerSettings(
        command=["podman", "--root", "/var/lib/x"],
        env_allowlist=["GOOGLE_", "GDAL_NUM_THREADS"],
        mounts=[str(tmp_path / "credentials")],
        run_options=["--network=none"],
        user="1000:1000",
    )
    argv = run_command(
        "registry.example.com/tool:2 python /app/run.py",
        {"image-in": "/w/x.SAFE", "out-pattern": "/w/*.tif"},
        ["GOOGLE_APPLICATION_CREDENTIALS=/creds/key.json", "SECRET_TOKEN=s3cr3t", "GDAL_NUM_THREADS=2"],
        tmp_path / "work",
        settings,
        "gi-test",
    )
    work = str(tmp_path / "work")
    creds = str(tmp_path / "credentials")
    assert argv == [
        "podman", "--root", "/var/lib/x", "run", "--rm", "--name", "gi-test",
        "--workdir", work, "--volume", f"{work}:{work}",
        "--volume", f"{creds}:{creds}:ro",
        "--user", "1000:1000",
        "--env", "GOOGLE_APPLICATION_CREDENTIALS=/creds/key.json", "--env", "GDAL_NUM_THREADS=2",
        "--network=none",
        "registry.example.com/tool:2", "python", "/app/run.py",
        "--image-in=/w/x.SAFE", "--out-pattern=/w/*.tif",
    ]  # fmt: skip
    assert "SECRET_TOKEN=s3cr3t" not in " ".join(argv), "envs outside the allow-list stay out"
    default_user = run_command("img", {}, [], tmp_path, DockerSettings(), "n")
    assert default_user[default_user.index("--user") + 1] == f"{os.getuid()}:{os.getgid()}"
    assert "--user" not in run_command("img", {}, [], tmp_path, DockerSettings(user=""), "n")


def test_env_allow_list_uses_upstream_prefixes() -> None:
    kept, dropped = container_envs(["AWS_REGION=x", "AWSOME=y", "HOME=/root", "A="], ["AWS_", "A="])
    assert kept == ["AWS_REGION=x", "A="] and dropped == ["AWSOME", "HOME"]
    assert container_envs(["X=1"], []) == ([], ["X"]), "nothing passes by default"


@pytest.mark.parametrize("command", ["--privileged", "-v /:/host alpine", "", "'unclosed"])
def test_a_command_that_is_not_an_image_is_refused(command: str, tmp_path: Path) -> None:
    with pytest.raises(StepRefused):
        run_command(command, {}, [], tmp_path, DockerSettings(), "n")


def fake_cli(folder: Path, body: str) -> str:
    return str(script(folder, "docker", body, "#!/bin/sh"))


def test_not_available_when_the_engine_does_not_answer(tmp_path: Path) -> None:
    no_daemon = fake_cli(
        tmp_path / "a", 'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2\nexit 1\n'
    )
    assert availability(DockerSettings(command=[no_daemon])) == NOT_AVAILABLE
    assert availability(DockerSettings(command=[str(tmp_path / "none")])) == (
        f"docker is not available here: {str(tmp_path / 'none')!r} is not installed (docker.command)"
    )
    hangs = fake_cli(tmp_path / "b", "sleep 30\n")
    assert availability(DockerSettings(command=[hangs], check_timeout_seconds=0.3)) == f"{NOT_AVAILABLE} within 0.3 s"
    answers = fake_cli(tmp_path / "c", "echo 'Server: Docker Engine'\n")
    assert availability(DockerSettings(command=[answers])) is None


def test_graph_check_and_runs_say_docker_is_not_available(
    tmp_path: Path, make_tile: TileFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEOCUBE_INGEST_DOCKER__COMMAND", json.dumps([fake_cli(tmp_path / "cli", "exit 1\n")]))
    get_settings.cache_clear()
    graph = write_graph(tmp_path / "g", one_step_graph("docker", "alpine:3", {}))
    assert [(p.location, p.message) for p in check_graph(graph)] == [("processing_steps[0].engine", NOT_AVAILABLE)]
    tile = make_tile(1, "S", graph)
    put_layer(tile, "state", "txt", "x", str(tmp_path / "s"))
    with pytest.raises(TemporaryError, match="docker is not available"):  # given back: the engine may come back
        process_tile(tile, None, None, work_dir=tmp_path / "w", storage_uri=str(tmp_path / "s"), index=None)


# ---- real containers -------------------------------------------------------------------------


def _rootfs_tar(folder: Path) -> Path:
    """A root filesystem holding only a POSIX shell and the libraries it links (from this machine)."""
    shell = Path(os.path.realpath("/bin/sh"))
    linked = subprocess.run(["ldd", str(shell)], capture_output=True, text=True, check=True).stdout
    files = [shell, *(Path(p) for p in linked.split() if p.startswith("/"))]
    archive = folder / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        for path in files:
            target = "bin/sh" if path == shell else str(path).lstrip("/")
            tar.add(os.path.realpath(path), arcname=target)
    return archive


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The podman command line (own storage, cgroupfs, runc) with the test image imported."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (scripts/test.sh installs it)")
    root = tmp_path_factory.mktemp("podman")
    command = ["podman", "--root", str(root / "root"), "--runroot", str(root / "run"), "--storage-driver", "vfs"]
    command += ["--cgroup-manager", "cgroupfs", "--events-backend", "file"]
    if shutil.which("runc"):
        command += ["--runtime", "runc"]
    subprocess.run([*command, "import", str(_rootfs_tar(root)), IMAGE], check=True, capture_output=True, timeout=120)
    return command


RUN_OPTIONS = ["--network=none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
IN_CONTAINER = (
    'for a in "$@"; do case "$a" in --out=*) out="${a#--out=}";; esac; done; '
    'echo "$GREETING|$SECRET_TOKEN|$(pwd)" > "$out"; read x < /ro/key; echo "$x" >> "$out"; '
    '(echo y > /ro/other) 2>/dev/null || echo read-only >> "$out"'
)


def use_podman(monkeypatch: pytest.MonkeyPatch, podman: list[str], **extra: object) -> None:
    monkeypatch.setenv("GEOCUBE_INGEST_DOCKER__COMMAND", json.dumps(podman))
    monkeypatch.setenv("GEOCUBE_INGEST_DOCKER__RUN_OPTIONS", json.dumps(RUN_OPTIONS))
    for key, value in extra.items():
        monkeypatch.setenv(f"GEOCUBE_INGEST_DOCKER__{key.upper()}", json.dumps(value))
    get_settings.cache_clear()


def test_a_docker_step_runs_in_a_real_container(
    tmp_path: Path, make_tile: TileFactory, monkeypatch: pytest.MonkeyPatch, podman: list[str]
) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "key").write_text("mounted\n")
    use_podman(monkeypatch, podman, env_allowlist=["GREETING"], mounts=[str(ro)])
    monkeypatch.setenv("SECRET_TOKEN", "from-the-server-environment")
    command = f"{IMAGE} /bin/sh -c '{IN_CONTAINER.replace('/ro/', str(ro) + '/')}' sh"
    body = one_step_graph("docker", command, {"out": out("result")}, ["result"])
    body["processing_steps"][0]["envs"] = ["GREETING=hello", "SECRET_TOKEN=from-the-graph"]
    graph = write_graph(tmp_path / "g", body)
    assert check_graph(graph) == [], "podman answers: docker is available"
    tile = make_tile(1, "S", graph)
    put_layer(tile, "state", "txt", "x", str(tmp_path / "s"))
    result = process_tile(tile, None, None, work_dir=tmp_path / "w", storage_uri=str(tmp_path / "s"), index=None)
    greeting, key, read_only = storage.read_bytes(result.outputs[0]).decode().splitlines()
    env, secret, cwd = greeting.split("|")
    assert env == "hello" and secret == "", "only allow-listed graph envs enter the container"
    assert cwd.startswith(str(tmp_path / "w")), "the work folder, mounted at the same path"
    assert (key, read_only) == ("mounted", "read-only")


def test_a_failing_container_is_classified_and_a_timed_out_one_killed(
    tmp_path: Path, make_tile: TileFactory, monkeypatch: pytest.MonkeyPatch, podman: list[str]
) -> None:
    use_podman(monkeypatch, podman)
    fails = write_graph(
        tmp_path / "g", one_step_graph("docker", f"{IMAGE} /bin/sh -c 'echo \"FATAL ERROR: bad input\"; exit 3'", {})
    )
    tile = make_tile(1, "S", fails)
    put_layer(tile, "state", "txt", "x", str(tmp_path / "s"))
    with pytest.raises(Exception, match="FATAL ERROR: bad input") as raised:
        process_tile(tile, None, None, work_dir=tmp_path / "w", storage_uri=str(tmp_path / "s"), index=None)
    assert type(raised.value).__name__ == "FatalError"

    monkeypatch.setenv("GEOCUBE_INGEST_PROCESSING__COMMAND_TIMEOUT_SECONDS", "3")
    get_settings.cache_clear()
    spins = write_graph(
        tmp_path / "g", one_step_graph("docker", f"{IMAGE} /bin/sh -c 'while :; do :; done'", {}), name="spin"
    )
    spinning = make_tile(1, "S", spins)
    with pytest.raises(TemporaryError, match="killed after 3 s"):
        process_tile(spinning, None, None, work_dir=tmp_path / "w", storage_uri=str(tmp_path / "s"), index=None)
    left = subprocess.run([*podman, "ps", "--all", "--format", "{{.Names}}"], capture_output=True, text=True)
    assert not [n for n in left.stdout.split() if n.startswith("gi-")], "no container left running"


def test_fixed_args_reach_the_container(
    tmp_path: Path, make_tile: TileFactory, monkeypatch: pytest.MonkeyPatch, podman: list[str]
) -> None:
    use_podman(monkeypatch, podman)
    echo = 'for a in "$@"; do echo "$a"; done > "${1#--out=}"'
    body = one_step_graph(
        "docker", f"{IMAGE} /bin/sh -c '{echo}' sh", {"out": out("args"), "words": fixed("two words")}, ["args"]
    )
    graph = write_graph(tmp_path / "g", body)
    tile = make_tile(1, "S", graph)
    put_layer(tile, "state", "txt", "x", str(tmp_path / "s"))
    result = process_tile(tile, None, None, work_dir=tmp_path / "w", storage_uri=str(tmp_path / "s"), index=None)
    lines = storage.read_bytes(result.outputs[0]).decode().splitlines()
    assert lines[1] == "--words=two words" and lines[0].startswith("--out=")
    assert sys.executable  # the container ran without this interpreter: only the image's shell
