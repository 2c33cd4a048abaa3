"""The default catalogues on a machine without network (issue 14 item 14), for real.

No provider settings at all: the presets a new user gets. The command runs in a network
namespace of its own (`unshare -n`: no interface but a loopback that is down), so every name
fails to resolve as on an offline laptop, whether or not this machine reaches the internet.
It must end with one line naming the providers that hold the payload's constellation (and only
them: no Landsat API for Sentinel-2), with no retry and nothing from urllib3 on the way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from geocube_ingest.catalogue import CatalogueUnavailable, search_scenes
from tests.catalogue.conftest import settings_with
from tests.catalogue.test_faults import payload, provider
from tests.silent import silent_server

pytestmark = pytest.mark.timeout(40)

DEADLINE = 30.0  # seconds; before retries were cut, an offline search took 32 s and more


def _offline(argv: list[str], home: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("`unshare -n` needs root (CI runs as root): no way to take the network away here")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEOCUBE_INGEST_", "PREFECT_"))}
    env.update({"GEOCUBE_INGEST_HOME": str(home), "COLUMNS": "200"})
    started = time.monotonic()
    done = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "geocube_ingest.cli.main", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    return done, time.monotonic() - started


@pytest.mark.parametrize(
    ("constellation", "producttype", "asked", "not_asked"),
    [
        ("sentinel2", "L2A", ["cdse-odata", "earth-search", "planetary-computer", "cdse-stac"], ["usgs-landsat"]),
        ("landsat89", "L2", ["earth-search", "planetary-computer", "usgs-landsat"], ["cdse-odata", "cdse-stac"]),
    ],
)
def test_an_offline_search_with_the_default_catalogues_fails_in_seconds(
    tmp_path: Path,
    s2_payload_doc: dict[str, object],
    constellation: str,
    producttype: str,
    asked: list[str],
    not_asked: list[str],
) -> None:
    payload = dict(
        s2_payload_doc, scene_type={"constellation": constellation, "parameters": {"producttype": producttype}}
    )
    path = tmp_path / "payload.json"
    path.write_text(json.dumps(payload))
    done, seconds = _offline(["catalog", "scenes", str(path)], tmp_path / "home")
    print(f"offline search ({constellation}, default catalogues): {seconds:.1f} s, exit {done.returncode}")
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: no catalogue provider answered: "), lines[0]
    named = [
        part.split(":")[0].strip()
        for part in lines[0].removeprefix("error: no catalogue provider answered: ").split("; ")
    ]
    assert named == asked, lines[0]
    assert not set(named) & set(not_asked)
    assert "urllib3" not in done.stderr and "Retrying" not in done.stderr and "Warning" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("kind", ["stac", "cdse-odata"])
def test_a_catalogue_that_drops_connections_costs_the_connect_timeout(kind: str) -> None:
    """A network that drops packets (a firewall, a captive network) is left after the connect
    timeout, not after the read timeout (60 s here: the pytest timeout would end the test first)."""
    with silent_server("unconnectable") as server:
        settings = settings_with(provider(kind, server.url()), timeout_seconds=60, connect_timeout_seconds=1)
        with pytest.raises(CatalogueUnavailable, match=r"(?i)timed out|timeout"):
            search_scenes(payload(), settings=settings)
