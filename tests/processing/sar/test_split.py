"""Splitting one burst out of an SLC product: the burst's lines only, metadata unchanged, readable as a SAFE."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray_sentinel

from geocube_ingest.demo.s1_slc_products import swath_files, write_slc_safe, zip_safe
from geocube_ingest.errors import InvalidInput
from geocube_ingest.processing.sar.split import BURST_JSON, read_burst_info, split_burst, unpack_burst

PRODUCT = "S1A_IW_SLC__1SDV_20230904T063730_20230904T063757_050174_0609E3_DAA1"
LINES_PER_BURST, BURSTS, SAMPLES = 1507, 9, 23055
WIDTH = 1024  # samples written in each burst (4 tiles)


def metadata(fixtures_dir: Path) -> Path:
    return fixtures_dir / "s1_slc" / f"{PRODUCT}.SAFE"


def burst_value(n: int) -> complex:
    return complex(10 * n, -n)


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Path:
    """Every burst of IW1 VV written over its first WIDTH samples, burst n holding the value (10n, -n)."""
    blocks = (
        ((n - 1) * LINES_PER_BURST, 0, np.full((LINES_PER_BURST, WIDTH), burst_value(n), "complex64"))
        for n in range(1, BURSTS + 1)
    )
    return write_slc_safe(tmp_path_factory.mktemp("slc"), metadata(fixtures_dir), {("IW1", "VV"): blocks})


def written_tiles(path: str) -> tuple[int, int]:
    """(tiles holding bytes, all tiles) of a tiled GeoTIFF."""
    with rasterio.open(path) as src:
        rows = -(-src.height // src.block_shapes[0][0])
        cols = -(-src.width // src.block_shapes[0][1])
        sizes = [
            int(src.get_tag_item(f"BLOCK_SIZE_{c}_{r}", "TIFF", bidx=1) or 0) for r in range(rows) for c in range(cols)
        ]
    return sum(s > 0 for s in sizes), rows * cols


@pytest.mark.parametrize("zipped", [False, True], ids=["folder", "zip"])
def test_one_burst_is_split_with_its_lines_only(product: Path, tmp_path: Path, zipped: bool) -> None:
    source = zip_safe(product, tmp_path / f"{PRODUCT}.zip") if zipped else product
    out = tmp_path / "burst.zip"
    info = split_burst(source, "iw1", 3, out, burst_id="t052_110433_iw1")
    assert (info.swath, info.burst_index, info.polarisations) == ("IW1", 3, ("VV",))
    assert (info.first_line, info.lines, info.samples) == (2 * LINES_PER_BURST, LINES_PER_BURST, SAMPLES)
    assert read_burst_info(out) == info

    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        assert json.loads(archive.read(BURST_JSON))["burst_id"] == "t052_110433_iw1"
    files = swath_files(product)[("IW1", "VV")]
    for relative in ("manifest.safe", files.annotation, files.calibration, files.noise):
        assert f"{PRODUCT}.SAFE/{relative}" in names
    safe, opened = unpack_burst(out, tmp_path)
    assert opened == info
    for relative in ("manifest.safe", files.annotation, files.calibration, files.noise):
        assert (safe / str(relative)).read_bytes() == (product / str(relative)).read_bytes(), relative
    measurement = str(safe / files.measurement)
    with rasterio.open(measurement) as src:
        assert (src.height, src.width, src.dtypes[0]) == (BURSTS * LINES_PER_BURST, SAMPLES, "complex_int16")
        assert len(src.gcps[0]) == 210  # the annotation's geolocation grid
        top = src.read(1, window=((info.first_line - 3, info.first_line + 3), (0, 5)))
        bottom = src.read(1, window=((info.first_line + info.lines - 3, info.first_line + info.lines + 3), (0, 5)))
    assert (top[:3] == 0).all() and (top[3:] == burst_value(3)).all()
    assert (bottom[:3] == burst_value(3)).all() and (bottom[3:] == 0).all()
    # xarray-sentinel reads the burst out of it as out of the product.
    burst = xarray_sentinel.open_sentinel1_dataset(safe, group=info.group("VV"))
    assert burst.measurement.shape == (LINES_PER_BURST, SAMPLES)
    values = burst.measurement[:, : WIDTH + 256].values
    assert (values[:, :WIDTH] == burst_value(3)).all() and (values[:, WIDTH:] == 0).all()
    written, total = written_tiles(measurement)
    in_product, _ = written_tiles(str(product / files.measurement))
    # Only the burst's tiles hold bytes: its 1507 lines span 7 rows of 256-line tiles (53 in the swath).
    print(
        f"\nburst product: {written} of {total} tiles written (product: {in_product}),",
        f"{out.stat().st_size / 1e6:.2f} MB",
    )
    assert in_product == 53 * WIDTH // 256 and written <= 7 * WIDTH // 256
    assert unpack_burst(out, tmp_path) == (safe, info)  # unpacked once, reused by the next steps


def test_stored_burst_is_one_burst_not_the_product(tmp_path: Path, fixtures_dir: Path) -> None:
    # Speckle-like pixels compress like real ones (not at all): the sizes compare as real products' would.
    rng = np.random.default_rng(1)
    lines = 600  # the part of each of bursts 2..4 written (a full swath of noise would take a minute)
    blocks = []
    for n in (2, 3, 4):
        noise = rng.normal(0, 80, (lines, 4096)) + 1j * rng.normal(0, 80, (lines, 4096))
        blocks.append(((n - 1) * LINES_PER_BURST + 200, 1024, noise))
    product = write_slc_safe(tmp_path / "p", metadata(fixtures_dir), {("IW1", "VV"): blocks})
    zipped = zip_safe(product, tmp_path / "product.zip")
    split_burst(zipped, "IW1", 3, tmp_path / "burst.zip")
    product_mb, burst_mb = zipped.stat().st_size / 1e6, (tmp_path / "burst.zip").stat().st_size / 1e6
    print(f"\nproduct with 3 bursts of data {product_mb:.1f} MB, burst product {burst_mb:.1f} MB")
    assert burst_mb < product_mb * 0.4  # one burst of the three, plus the metadata XMLs (~1 MB)


def test_errors_name_what_is_wrong(product: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no burst 10"):
        split_burst(product, "IW1", 10, tmp_path / "b.zip")
    with pytest.raises(InvalidInput, match="no IW2 files"):
        split_burst(product, "IW2", 1, tmp_path / "b.zip")
    with pytest.raises(InvalidInput, match="polarisation VH not in the product"):
        split_burst(product, "IW1", 1, tmp_path / "b.zip", ["VH"])
    with pytest.raises(InvalidInput, match="not an IW/EW swath"):
        split_burst(product, "../x", 1, tmp_path / "b.zip")
    not_burst = tmp_path / "x.zip"
    with zipfile.ZipFile(not_burst, "w") as archive:
        archive.writestr(BURST_JSON, '{"swath": "IW1"}')
    with pytest.raises(InvalidInput, match="not a burst description"):
        read_burst_info(not_burst)
    escaping = tmp_path / "escaping.zip"
    described = {"swath": "IW1", "burst_index": 1, "polarisations": ["VV"], "first_line": 0, "lines": 1, "samples": 1}
    with zipfile.ZipFile(escaping, "w") as archive:
        archive.writestr(BURST_JSON, json.dumps({**described, "product": "../../etc"}))
    with pytest.raises(InvalidInput, match="product"):
        read_burst_info(escaping)
    assert not (tmp_path / "b.zip").exists() and not list(tmp_path.glob("*.part"))
