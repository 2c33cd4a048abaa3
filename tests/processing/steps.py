"""Python steps called by import path from the test graphs (engine `python`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from geocube_ingest.errors import FatalError, TemporaryError


def concat(output: str, **inputs: str) -> None:
    """Write the text of the inputs (sorted by argument name), one per line, to `output`."""
    lines = [f"{name}={Path(path).read_text().strip()}" for name, path in sorted(inputs.items())]
    Path(output).write_text("\n".join(lines) + "\n")


def write_text(output: str, text: str, context: object = None) -> None:
    Path(output).write_text(text)
    if context is not None:
        # The StepContext is given to callables that ask for it.
        Path(output).with_suffix(".ctx").write_text(type(context).__name__)


def plain_geotiff(output: str, value: str = "7") -> None:
    """A striped, uncompressed GeoTIFF without overviews: not a COG."""
    data = np.full((600, 600), int(value), dtype="uint8")
    profile = {
        "driver": "GTiff", "width": 600, "height": 600, "count": 1, "dtype": "uint8", "nodata": 0,
        "crs": "EPSG:32631", "transform": from_origin(399960, 4800000, 10, 10),
    }  # fmt: skip
    with rasterio.open(output, "w", **profile) as dst:
        dst.write(data, 1)


def fail(kind: str, output: str = "") -> None:
    if output:
        Path(output).write_text("partial")
    if kind == "fatal":
        raise FatalError("the product is corrupt")
    if kind == "temporary":
        raise TemporaryError("the disk is busy")
    if kind == "marked":
        raise RuntimeError("FATAL ERROR: unsupported product type")
    raise ValueError("something went wrong")
