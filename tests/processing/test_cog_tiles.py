"""COGs laid out from tiles compressed by the chunks' tasks: valid for rio-cogeo, and the same
pixels as GDAL's COG driver makes from the same data (full resolution, and AVERAGE overviews
when the sizes halve exactly)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import tifffile
import xarray as xr
from rio_cogeo import cog_validate

from geocube_ingest.index.base import DFormat
from geocube_ingest.processing import cog, cog_tiles, raster
from geocube_ingest.settings import Settings
from tests.processing.test_raster import georef


def _write_both(data: xr.DataArray, tmp_path: Path, settings: Settings, **kwargs: object) -> tuple[Path, Path]:
    made = []
    for writer in ("tiles", "gdal"):
        target = tmp_path / writer / "out.tif"
        cog.write_cog(data, target, settings=settings.with_overrides({"processing": {"cog_writer": writer}}), **kwargs)  # type: ignore[arg-type]
        valid, errors, _ = cog_validate(str(target), quiet=True)
        assert valid and not errors, (writer, errors)
        made.append(target)
    assert [p.name for p in (tmp_path / "tiles").iterdir()] == ["out.tif"], "no intermediate file left behind"
    return made[0], made[1]


def _same_levels(tiles: Path, gdal: Path, *, overviews_equal: bool) -> None:
    with rasterio.open(tiles) as a, rasterio.open(gdal) as b:
        for key in ("width", "height", "dtype", "crs", "transform", "blockxsize", "compress", "tiled"):
            assert a.profile.get(key) == b.profile.get(key), key
        assert np.array_equal([a.nodata], [b.nodata], equal_nan=True)
        assert a.scales == b.scales and a.offsets == b.offsets
        levels = len(a.overviews(1))
        assert a.overviews(1) == b.overviews(1) and levels
        np.testing.assert_array_equal(a.read(1), b.read(1))
    for level in range(levels):
        with rasterio.open(tiles, OVERVIEW_LEVEL=level) as a, rasterio.open(gdal, OVERVIEW_LEVEL=level) as b:
            assert a.shape == b.shape
            if overviews_equal:
                np.testing.assert_array_equal(a.read(1), b.read(1))


def _ramp(shape: tuple[int, int], dtype: str) -> np.ndarray:
    rng = np.random.default_rng(7)
    return (np.add.outer(np.arange(shape[0]) * 3, np.arange(shape[1]) * 7) % 4000 + rng.integers(0, 300, shape)).astype(
        dtype
    )


@pytest.mark.parametrize(
    ("dtype", "nodata", "chunks"),
    [("uint16", 0.0, 512), ("float32", float("nan"), 512), ("int16", -32768.0, 128)],
    ids=["uint16-aligned-chunks", "float32-nan", "int16-chunks-rechunked"],
)
def test_same_pixels_as_gdal(tmp_path: Path, settings: Settings, dtype: str, nodata: float, chunks: int) -> None:
    """1024x1536 halves exactly down to the last overview: GDAL's AVERAGE and ours agree on every pixel,
    nodata left out of the means (a nodata band and a nodata block)."""
    values = _ramp((1024, 1536), dtype)
    values[:, :100] = nodata
    values[300:555, 700:955] = nodata
    data = georef(values, chunks=chunks)
    tiles, gdal = _write_both(data, tmp_path, settings, nodata=nodata)
    _same_levels(tiles, gdal, overviews_equal=True)


def test_scaled_int16_with_odd_sizes(tmp_path: Path, settings: Settings) -> None:
    """700x901 after a DFormat mapping (scale/offset kept): full resolution identical; overview sizes as
    GDAL's (ceil of half), their pixels from whole 2x2 blocks (GDAL stretches its windows instead)."""
    real = np.add.outer(np.arange(700), np.arange(901)).astype("float32") / 160
    real[:40, :40] = np.nan
    data = raster.to_dformat(georef(real, chunks=256), DFormat.parse("int16,-32768,0,10000"), (0, 10))
    tiles, gdal = _write_both(data, tmp_path, settings, nodata=-32768)
    _same_levels(tiles, gdal, overviews_equal=False)
    with rasterio.open(tiles, OVERVIEW_LEVEL=0) as src:
        level = src.read(1)
    with rasterio.open(tiles) as src:
        full = src.read(1).astype("float64")
    block = full[100:102, 200:202]
    assert level[50, 100] == np.floor(block.mean() + 0.5)


def test_nearest_overviews_keep_classes(tmp_path: Path, settings: Settings) -> None:
    settings = settings.with_overrides({"processing": {"cog_writer": "tiles"}})
    values = (np.add.outer(np.arange(768), np.arange(768)) // 97 % 5).astype("uint8")
    target = tmp_path / "classes.tif"
    cog.write_cog(georef(values, chunks=256), target, nodata=255, resampling="NEAREST", settings=settings)
    assert cog_validate(str(target), quiet=True)[0]
    with rasterio.open(target, OVERVIEW_LEVEL=0) as src:
        assert set(np.unique(src.read(1))) <= set(range(5))
        np.testing.assert_array_equal(src.read(1), values[::2, ::2])


def test_bigtiff_layout(tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the classic TIFF limit the layout has 64-bit offsets; GDAL and rio-cogeo read it alike."""
    monkeypatch.setattr(cog_tiles, "CLASSIC_LIMIT", 0)
    settings = settings.with_overrides({"processing": {"cog_writer": "tiles"}})
    values = _ramp((600, 600), "uint16")
    target = tmp_path / "big.tif"
    cog.write_cog(georef(values, chunks=256), target, nodata=0, settings=settings)
    with tifffile.TiffFile(target) as tif:
        assert tif.is_bigtiff and len(tif.pages) == 3
    assert cog_validate(str(target), quiet=True)[:2] == (True, [])
    with rasterio.open(target) as src:
        np.testing.assert_array_equal(src.read(1), values)


def test_halve_leaves_nodata_out() -> None:
    spec = cog_tiles.Spec("uint16", 0, 256, "DEFLATE", nearest=False, levels=1, whole=0)
    values = np.array([[1, 2, 0], [4, 0, 0], [9, 9, 7]], dtype="uint16")
    # [1,2,4] -> 2.33 -> 2; [0,0] only -> nodata; [9,9] -> 9; [7] -> 7 (ceil(3 / 2) = 2 pixels each way)
    assert cog_tiles.halve(values, spec).tolist() == [[2, 0], [9, 7]]


def test_other_compressions_use_gdal(tmp_path: Path, settings: Settings) -> None:
    lerc = settings.with_overrides({"processing": {"cog_compress": "LERC", "cog_writer": "tiles"}})
    assert not cog_tiles.supported(georef(_ramp((300, 300), "float32")), "LERC")
    target = tmp_path / "lerc.tif"
    cog.write_cog(georef(_ramp((300, 300), "float32")), target, nodata=None, settings=lerc)
    with rasterio.open(target) as src:
        assert src.profile["compress"] == "lerc"


def test_the_replica_of_the_headers_is_checked_as_the_cog_itself(tmp_path: Path, settings: Settings) -> None:
    """What a COG streamed to an object store is checked on: its header and IFDs in a sparse
    file of its size give rio-cogeo the same answer as the whole file, and a broken layout fails."""
    data = raster.to_dformat(georef(np.random.default_rng(3).random((1300, 1100)), chunks=256),
                             DFormat.parse("uint16,0,1,10000"), (0, 1))  # fmt: skip
    real = tmp_path / "real.tif"
    with real.open("wb") as out:
        layout = cog._write_from_tiles(data, out, tmp_path, nodata=0, client=None, resampling="AVERAGE",
                                       settings=settings)  # fmt: skip
    replica = layout.replica(tmp_path / "replica.tif")
    assert replica.stat().st_size == real.stat().st_size and replica.stat().st_blocks < real.stat().st_blocks
    assert cog.cog_problems(replica, settings) == cog.cog_problems(real, settings) == []
    assert cog_validate(str(replica), quiet=True)[:2] == (True, [])
    # The main image's first tile said to start where the overviews' tiles start: not a COG any more.
    with tifffile.TiffFile(real) as tif:
        tag = tif.pages.first.tags["TileOffsets"]
        assert tag.dtype == 4  # LONG: 4 bytes each
        offset_of_offsets = tag.valueoffset
    head = bytearray(layout.head)
    head[offset_of_offsets : offset_of_offsets + 4] = len(layout.head).to_bytes(4, "little")
    broken = cog_tiles.Layout(bytes(head), layout.size).replica(tmp_path / "broken.tif")
    assert any("first block" in problem for problem in cog.cog_problems(broken, settings))
