"""Index fixtures: an index per database backend, settings with a temporary storage, COG writer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.io import MemoryFile
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_translate, cog_validate
from rio_cogeo.profiles import cog_profiles

from geocube_ingest.index.base import NewRecord
from geocube_ingest.index.embedded import EmbeddedIndex
from geocube_ingest.settings import Settings

# A 64 x 48 grid in UTM 31N (Toulouse), 20 m pixels.
UTM31 = "EPSG:32631"
ORIGIN = (360000.0, 4830000.0)
PIXEL = 20.0


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(storage_uri=str(tmp_path / "storage"), database_url=f"sqlite:///{tmp_path / 'index.db'}")


@pytest.fixture
def index(database_url: str, settings: Settings) -> EmbeddedIndex:
    """The embedded index on SQLite and on PostgreSQL."""
    return EmbeddedIndex(database_url, settings=settings)


@pytest.fixture
def sqlite_index(settings: Settings) -> EmbeddedIndex:
    return EmbeddedIndex(settings=settings)


def write_cog(
    path: Path,
    data: np.ndarray,
    *,
    nodata: float | None,
    crs: str = UTM31,
    origin: tuple[float, float] = ORIGIN,
    pixel: float = PIXEL,
) -> Path:
    """A valid COG (tiled, with overviews) of `data` (bands, rows, cols) or (rows, cols)."""
    array = data if data.ndim == 3 else data[np.newaxis]
    count, height, width = array.shape
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "dtype": array.dtype.name,
        "count": count,
        "height": height,
        "width": width,
        "crs": crs,
        "transform": from_origin(origin[0], origin[1], pixel, pixel),
    }
    if nodata is not None:
        profile["nodata"] = nodata
    path.parent.mkdir(parents=True, exist_ok=True)
    cog = cog_profiles.get("deflate")
    cog.update(blockxsize=16, blockysize=16)
    with MemoryFile() as memory:
        with memory.open(**profile) as dataset:
            dataset.write(array)
        with memory.open() as dataset:
            cog_translate(dataset, str(path), cog, overview_level=1, quiet=True, in_memory=True)
    valid, errors, _ = cog_validate(str(path))
    assert valid, errors
    with rasterio.open(path) as check:
        assert check.overviews(1), "the COG must have overviews"
    return path


@pytest.fixture
def cog() -> Callable[..., Path]:
    return write_cog


def new_record(name: str, day: int, tags: dict[str, str] | None = None, footprint: str | None = None) -> NewRecord:
    return NewRecord(
        name=name,
        time=datetime(2022, 1, day, 10, 30, tzinfo=UTC),
        tags=tags if tags is not None else {"constellation": "SENTINEL2"},
        footprint=footprint or "POLYGON ((1.0 43.5, 1.1 43.5, 1.1 43.6, 1.0 43.6, 1.0 43.5))",
    )
