"""Every command and snippet of README.md, run as written, in README order, like a new user would.

A fresh temporary folder stands for the project checkout (its `.venv` is the virtualenv running
these tests) with a fresh home directory, so `~/.geocube-ingest` is the default home the README
talks about. Bash lines are typed one by one into one bash session started in that folder, so
`cd`, `export` and variables carry over as in the reader's terminal; each must exit 0 and print
no traceback. Python blocks run as scripts where that session is; the JSON block must be the
payload the demo wrote; the TOML block is read as the settings file.

The few commands that are not run exactly as written are in ADAPTED, each with its reason;
a README change that removes one of them fails `test_adapted_commands_are_in_the_readme`, so
the list cannot outlive the README. SKIPPED_SECTIONS are not run at all.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from markdown_it import MarkdownIt
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from geocube_ingest.settings import Settings
from tests.api.serve import free_port

README = Path(__file__).resolve().parents[1] / "README.md"
SETUP = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/geocube-ingest demo"
SERVE = "geocube-ingest serve &"
README_PORT = "127.0.0.1:8080"

# README command -> (what runs instead, or None: skipped; why).
ADAPTED: dict[str, tuple[str | None, str]] = {
    SETUP: (
        ".venv/bin/geocube-ingest demo",
        "the install is the one `bash scripts/test.sh` made before running this test (`pip install -e '.[dev]'` "
        "into .venv, a superset); a second one costs minutes. The demo runs as written.",
    ),
    "bash scripts/test.sh": (None, "it is the command running this test (.ci/run runs exactly it)"),
    SERVE: (
        SERVE,
        "run on a free port (GEOCUBE_INGEST_API__PORT: other tests run on this machine at the same time) and "
        "stopped with SIGTERM at the end of its section; 127.0.0.1:8080 in the curl lines becomes that port",
    ),
    "geocube-ingest worker download": (
        "geocube-ingest worker download --idle-seconds 3",
        "a long-running worker: it stops when idle instead of when killed",
    ),
    "geocube-ingest worker process": (
        "geocube-ingest worker process --idle-seconds 3",
        "a long-running worker: it stops when idle instead of when killed",
    ),
}
# Sections edited elsewhere at the moment; their commands need a Prefect server, work pools and
# several machines. "Prefect deployments" is run as written by tests/flows/test_prefect_server.py
# (a Prefect server, the deployments, two process workers in folders of their own).
SKIPPED_SECTIONS = ("Scaling out", "Prefect deployments")
STATE = re.compile(r"^(cd|export|source)\s|^[A-Za-z_][A-Za-z0-9_]*=\S")


@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    line: int
    section: str  # its `##` heading
    part: str  # its `##` or `###` heading, the nearest

    @property
    def commands(self) -> list[str]:
        """The block's command lines, with their trailing comments (bash drops them)."""
        return [line.strip() for line in self.text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def readme_blocks() -> list[Block]:
    blocks: list[Block] = []
    section = part = heading = ""
    for token in MarkdownIt().parse(README.read_text()):
        if token.type == "heading_open":
            heading = token.tag
        elif token.type == "inline" and heading:
            part = token.content
            section = part if heading == "h2" else section
            heading = ""
        elif token.type == "fence" and token.map is not None:
            blocks.append(Block(token.info.strip(), token.content, token.map[0] + 1, section, part))
    return blocks


def command_of(line: str) -> str:
    """The command without its trailing comment (`#` after two spaces, as the README writes them)."""
    return re.split(r"\s{2,}#", line, maxsplit=1)[0].strip()


class Terminal:
    """One bash session in the project folder, fed line by line: `cd`, `export` and variables carry
    over from one command to the next, as in the reader's terminal."""

    def __init__(self, project: Path, home: Path, logs: Path, port: int):
        self.project, self.logs, self.port = project, logs, port
        logs.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GEOCUBE_INGEST_", "PREFECT_"))}
        env.update({"HOME": str(home), "COLUMNS": "120", "GEOCUBE_INGEST_API__PORT": str(port)})
        self.shell = subprocess.Popen(["bash"], stdin=subprocess.PIPE, cwd=project, env=env, text=True)
        self.count = 0
        self.server_pid: int | None = None

    def _send(self, text: str) -> None:
        assert self.shell.stdin is not None
        self.shell.stdin.write(text + "\n")
        self.shell.stdin.flush()

    def _wait(self, rc: Path, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while not (rc.is_file() and rc.read_text().endswith("\n")):
            assert self.shell.poll() is None, "the shell ended"
            if time.monotonic() > deadline:
                raise AssertionError(f"no end within {timeout} s")
            time.sleep(0.2)
        return int(rc.read_text())

    def run(self, command: str, where: str, timeout: float = 600) -> str:
        """Run one line; state lines in the session itself, others in a subshell with `set -e`."""
        self.count += 1
        out, err, rc = (self.logs / f"{self.count}.{ext}" for ext in ("out", "err", "rc"))
        line = command.replace(README_PORT, f"127.0.0.1:{self.port}")
        body = line if STATE.match(command) else f"( set -eo pipefail; {line} )"
        self._send(f"{body} >{out} 2>{err} </dev/null; echo $? >{rc}")
        status = self._wait(rc, timeout)
        stdout, stderr = out.read_text(), err.read_text()
        assert status == 0, f"{where}: `{command}` exited {status}\n{stdout[-3000:]}\n{stderr[-3000:]}"
        assert "Traceback" not in stderr, f"{where}: `{command}`\n{stderr[-3000:]}"
        return stdout

    def start_server(self, command: str, where: str) -> None:
        pid = self.logs / "server.pid"
        self._send(f"{command.removesuffix('&')} >{self.logs}/server.log 2>&1 </dev/null & echo $! >{pid}")
        self.server_pid = self._wait(pid, 30)
        answering = Retrying(
            stop=stop_after_delay(90),
            wait=wait_fixed(0.5),
            retry=retry_if_exception_type(httpx.TransportError),
            retry_error_callback=lambda _state: None,
        )
        page = answering(httpx.get, f"http://127.0.0.1:{self.port}/ui/", timeout=2)
        log = (self.logs / "server.log").read_text()
        assert page is not None and page.status_code == 200, f"{where}: `{command}` does not answer on /ui:\n{log}"
        self.check_pages()

    def check_pages(self) -> None:
        """The README: the API's Swagger UI at /docs, the schema, the page at /ui, offline (assets shipped)."""
        base = f"http://127.0.0.1:{self.port}"
        token = self.run('echo "$GEOCUBE_INGEST_API__TOKEN"', "the token").strip()
        schema = httpx.get(base + "/openapi.json", headers={"Authorization": f"Bearer {token}"} if token else {})
        assert schema.json()["paths"], schema.text
        for page in ("/ui/", "/docs"):
            html = httpx.get(base + page).text
            assets = re.findall(r"""(?:src|href)=["']([^"'#]+)["']""", html)
            assert not [a for a in assets if a.startswith(("http:", "https:", "//"))], f"{page} loads from outside"
            local = [a for a in assets if a.endswith((".js", ".css"))]
            assert local, f"{page} has no script or style"
            for asset in local:
                url = httpx.URL(base + page).join(asset)
                assert httpx.get(url).status_code == 200, f"{page}: {asset} ({url})"

    def stop_server(self) -> None:
        """SIGTERM, as the README says: the server stops within seconds, exit status 0."""
        if self.server_pid is None:
            return
        rc = self.logs / "server.rc"
        self._send(f"kill -TERM {self.server_pid}; wait {self.server_pid}; echo $? >{rc}")
        self.server_pid = None
        status = self._wait(rc, 30)
        assert status == 0, (self.logs / "server.log").read_text()[-3000:]

    def close(self) -> None:
        if self.server_pid is not None:
            os.kill(self.server_pid, signal.SIGKILL)
        self._send("exit")
        self.shell.wait(timeout=30)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    project = tmp_path / "project"
    project.mkdir()
    (project / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    term = Terminal(project, tmp_path / "home", tmp_path / "logs", free_port())
    yield term
    term.close()


def test_adapted_commands_are_in_the_readme() -> None:
    commands = {command_of(line) for block in readme_blocks() if block.lang == "bash" for line in block.commands}
    assert set(ADAPTED) <= commands, set(ADAPTED) - commands
    assert {block.section for block in readme_blocks()} >= set(SKIPPED_SECTIONS)


def test_the_settings_example_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (toml,) = [block for block in readme_blocks() if block.lang == "toml"]
    path = tmp_path / "config.toml"
    path.write_text(toml.text)
    for key in list(os.environ):
        if key.startswith("GEOCUBE_INGEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("GEOCUBE_INGEST_CONFIG", str(path))
    settings = Settings()
    assert settings.storage_uri == "s3://my-bucket/geocube"
    assert [p.name for p in settings.catalogue.providers] == ["earth-search", "stac"]
    assert [p.name for p in settings.download.providers] == ["archive", "cdse", "links"]
    assert settings.security.file_roots == ["/data/products"]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_every_readme_command_and_snippet_runs_as_written(terminal: Terminal, tmp_path: Path) -> None:
    ran: list[str] = []
    part = ""
    for block in readme_blocks():
        where = f"README.md:{block.line} ({block.part})"
        if block.part != part:
            terminal.stop_server()  # a server lives for its section
            part = block.part
        if block.section in SKIPPED_SECTIONS or block.lang in ("", "text", "toml"):
            continue  # skipped sections; the diagram; the settings example (test above)
        if block.lang == "json":
            demo_payload = tmp_path / "home" / ".geocube-ingest" / "demo" / "LongmontDemoS2.json"
            assert json.loads(block.text) == json.loads(demo_payload.read_text()), where
            continue
        if block.lang == "python":
            script = tmp_path / f"readme_{block.line}.py"
            script.write_text(block.text)
            terminal.run(f"python {script}", where)  # where the reader's terminal is
            ran.append(f"python block at line {block.line}")
            continue
        assert block.lang == "bash", f"{where}: a ```{block.lang} block: say how to run it"
        for line in block.commands:
            command = command_of(line)
            instead, _why = ADAPTED.get(command, (command, ""))
            if instead is None:
                continue
            if command == SERVE:
                terminal.start_server(instead, where)
            else:
                terminal.run(instead, where)
            ran.append(command)
    terminal.stop_server()
    assert len(ran) >= 30, ran  # the README's commands did run (not a parse gone wrong)
