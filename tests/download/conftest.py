"""Download fixtures: HTTP servers on 127.0.0.1, a CDSE-like server from the recorded OData
responses, the moto S3 server, products built from the recorded SAFE fixtures, a workflow."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from geocube_ingest.download.providers.cdse import TOKENS
from geocube_ingest.settings import DownloadProviderSettings, DownloadSettings, Settings
from geocube_ingest.workflow import NewScene, NewTile, Workflow
from tests.download.servers import Account, CdseServer, FileServer
from tests.storage.servers import gcs_server, s3_server

__all__ = ["gcs_server", "s3_server"]

S2_NAME = "S2A_MSIL1C_20180101T105441_N0206_R051_T31TDH_20180101T124911"
CDSE_USER = "jane.doe@example.org"
CDSE_PASSWORD = "pw-Zq8#kL2!vX9"


def zip_folder(folder: Path, top: str | None = None) -> bytes:
    """A product zip the way ESA ships them: one `X.SAFE/` top folder."""
    buffer = io.BytesIO()
    top = top or folder.name
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, f"{top}/{path.relative_to(folder).as_posix()}")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def s2_safe(fixtures_dir: Path) -> Path:
    return fixtures_dir / "s2_safe" / f"{S2_NAME}.SAFE"


@pytest.fixture(scope="session")
def s2_zip(s2_safe: Path) -> bytes:
    return zip_folder(s2_safe)


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> Iterator[None]:
    TOKENS.clear()
    yield
    TOKENS.clear()


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    server = FileServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def recorded_cdse_products(fixtures_dir: Path) -> list[dict[str, Any]]:
    """Product entities as CDSE's OData API returned them (fixtures/odata)."""
    odata = fixtures_dir / "odata" / "cdse"
    entities = list(
        json.loads((odata / "products_s2msi1c_expand_attributes_assets_top2_skip2.json").read_text())["value"]
    )
    cassette = yaml.safe_load((odata / "cassette_products_aux_poeorb_top1.yaml").read_text())
    body = cassette["interactions"][0]["response"]["body"]["string"]
    entities.extend(json.loads(body)["value"])
    return entities


@pytest.fixture
def cdse_server(recorded_cdse_products: list[dict[str, Any]]) -> Iterator[CdseServer]:
    server = CdseServer(recorded_cdse_products, Account(CDSE_USER, CDSE_PASSWORD))
    server.start()
    yield server
    server.stop()


def make_settings(tmp_path: Path, *providers: DownloadProviderSettings, **download: Any) -> Settings:
    """Settings for one test: its own storage and work dir, fast back-off."""
    options: dict[str, Any] = {"backoff_seconds": 0.01, "backoff_max_seconds": 0.05, "timeout_seconds": 10}
    options.update(download)
    return Settings(
        storage_uri=str(tmp_path / "storage"),
        work_dir=tmp_path / "work",
        download=DownloadSettings(providers=list(providers), **options),
    )


@pytest.fixture
def wf(tmp_path: Path) -> Workflow:
    return Workflow(f"sqlite:///{tmp_path / 'workflow.db'}")


SceneFactory = Callable[..., int]


@pytest.fixture
def add_scene() -> SceneFactory:
    def add(
        workflow: Workflow,
        source_id: str = S2_NAME,
        *,
        metadata: dict[str, Any] | None = None,
        uuid: str = "",
        graph: str = "CopyProductToStorage",
        is_retriable: bool = False,
        storage_uri: str = "",
        aoi: str = "DownloadTest",
        date: str = "2018-01-01T10:54:41Z",
    ) -> int:
        data = {
            "uuid": uuid,
            "date": date,
            "graph_name": graph,
            "graph_config": {},
            "record_id": "",
            "metadata": metadata or {},
            "is_retriable": is_retriable,
            "storage_uri": storage_uri,
            "tiles": {source_id: {"swath_id": "", "tile_nr": 0}},
        }
        tile = NewTile(source_id, {"swath_id": "", "tile_nr": 0, "graph_name": "Pass", "is_retriable": is_retriable})
        result = workflow.ingest(aoi, [NewScene(source_id, data, [tile])])
        return result.scene_ids[0]

    return add
