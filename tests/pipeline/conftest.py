"""The demo's offline world (real metadata, small products) as the ingestion tests' catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest

from geocube_ingest.demo.build import DemoWorld, build, overrides, prepare_index
from geocube_ingest.index import get_index
from geocube_ingest.settings import Settings, get_settings


@pytest.fixture(scope="session")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return build(tmp_path_factory.mktemp("demo-world"))


def settings_for(world: DemoWorld, database_url: str, folder: Path) -> Settings:
    """Settings of a fresh installation whose catalogue and downloads are the demo's."""
    settings = get_settings().with_overrides(
        {
            **overrides(world),
            "database_url": database_url,
            "storage_uri": str(folder / "storage"),
            "work_dir": str(folder / "work"),
        }
    )
    prepare_index(get_index(settings))
    return settings


@pytest.fixture
def demo_settings(demo_world: DemoWorld, database_url: str, tmp_path: Path) -> Settings:
    return settings_for(demo_world, database_url, tmp_path)
