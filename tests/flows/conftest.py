from __future__ import annotations

import pytest

from geocube_ingest.demo.build import DemoWorld, build


@pytest.fixture(scope="module")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return build(tmp_path_factory.mktemp("demo-world"))
