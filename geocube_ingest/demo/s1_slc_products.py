"""Sentinel-1 IW SLC products in ESA's SAFE layout: a real product's metadata, synthetic pixels.

There are no real SLC pixels offline: the recorded products (fixtures `s1_slc/`, and the
copies in `data/` the demo carries) have their manifest, swath annotation, calibration and
noise XMLs only. A product here is those files unchanged plus, per polarisation, a
measurement GeoTIFF of the swath's full size (complex int16, as ESA's), georeferenced by
the annotation's geolocation grid as GCPs, where only the given blocks of pixels are
written (GDAL SPARSE_OK: the rest takes no bytes and reads as 0, "no data" for SLC).
The demo, the processing tests and the benchmark build their products with this.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.windows import Window

from geocube_ingest.errors import InvalidInput

BLOCK = 256
# (first line, first sample, complex values): pixels of a measurement to write.
Block = tuple[int, int, np.ndarray]


@dataclass(frozen=True)
class SwathFiles:
    """The metadata files of one swath and polarisation of a SAFE folder (paths relative to it)."""

    annotation: str
    calibration: str | None
    noise: str | None

    @property
    def measurement(self) -> str:
        return "measurement/" + Path(self.annotation).with_suffix(".tiff").name


def swath_files(safe: Path) -> dict[tuple[str, str], SwathFiles]:
    """(swath, polarisation) -> its files, from `annotation/s1?-<swath>-slc-<pol>-*.xml`."""
    found: dict[tuple[str, str], SwathFiles] = {}
    for xml in sorted((safe / "annotation").glob("s1*-slc-*.xml")):
        parts = xml.name.split("-")
        swath, pol = parts[1].upper(), parts[3].upper()
        calibration = safe / "annotation" / "calibration" / f"calibration-{xml.name}"
        noise = safe / "annotation" / "calibration" / f"noise-{xml.name}"
        found[(swath, pol)] = SwathFiles(
            xml.relative_to(safe).as_posix(),
            calibration.relative_to(safe).as_posix() if calibration.is_file() else None,
            noise.relative_to(safe).as_posix() if noise.is_file() else None,
        )
    if not found:
        raise InvalidInput(f"{safe.name}: no SLC annotation under annotation/")
    return found


def swath_shape(annotation: bytes) -> tuple[int, int]:
    """(lines, samples) of a swath's measurement, from its annotation's imageInformation."""
    root = ET.fromstring(annotation)
    lines = root.findtext(".//imageAnnotation/imageInformation/numberOfLines")
    samples = root.findtext(".//imageAnnotation/imageInformation/numberOfSamples")
    if lines is None or samples is None:
        raise InvalidInput("annotation without imageInformation/numberOfLines and numberOfSamples")
    return int(lines), int(samples)


def annotation_gcps(annotation: bytes) -> list[GroundControlPoint]:
    """The geolocation grid as GCPs, as ESA writes them in the measurement TIFF."""
    root = ET.fromstring(annotation)
    gcps = []
    for point in root.iterfind(".//geolocationGrid/geolocationGridPointList/geolocationGridPoint"):

        def value(tag: str, node: ET.Element = point) -> float:
            return float(node.findtext(tag) or "nan")

        gcps.append(
            GroundControlPoint(
                row=value("line"),
                col=value("pixel"),
                x=value("longitude"),
                y=value("latitude"),
                z=value("height"),
            )
        )
    return gcps


def write_measurement(path: Path, annotation: bytes, blocks: Iterable[Block]) -> Path:
    """A sparse swath-sized complex int16 GeoTIFF holding only `blocks` (values rounded, clipped)."""
    lines, samples = swath_shape(annotation)
    profile = {
        "driver": "GTiff",
        "width": samples,
        "height": lines,
        "count": 1,
        "dtype": "complex_int16",
        "tiled": True,
        "blockxsize": BLOCK,
        "blockysize": BLOCK,
        "compress": "deflate",
        "sparse_ok": True,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile, gcps=annotation_gcps(annotation), crs=CRS.from_epsg(4326)) as dst:
        for row, col, values in blocks:
            values = np.asarray(values)
            if row < 0 or col < 0 or row + values.shape[0] > lines or col + values.shape[1] > samples:
                raise InvalidInput(f"block at ({row}, {col}) of {values.shape} is outside the {lines}x{samples} swath")
            limit = np.iinfo("int16").max
            rounded = np.clip(np.round(values.real), -limit, limit) + 1j * np.clip(np.round(values.imag), -limit, limit)
            dst.write(rounded.astype("complex64"), 1, window=Window(col, row, values.shape[1], values.shape[0]))
    return path


def write_slc_safe(
    target: Path,
    metadata: Path,
    measurements: Mapping[tuple[str, str], Iterable[Block]],
    *,
    manifest: bytes | None = None,
    replace: Mapping[str, tuple[str, bytes]] | None = None,
) -> Path:
    """`target/<name>.SAFE`: the metadata files of `metadata` (a SAFE folder) and a measurement per
    (swath, polarisation) key of `measurements`. `manifest` replaces the manifest (and so the
    product's name); `replace` maps a metadata file's relative path to the relative path and
    contents written instead (a repeat pass renames and shifts them). Replaced if present."""
    files = swath_files(metadata)
    missing = [key for key in measurements if key not in files]
    if missing:
        raise InvalidInput(f"{metadata.name}: no annotation for {missing}")
    replace = dict(replace or {})
    name = (metadata.name if manifest is None else _name_of(manifest)).removesuffix(".SAFE")
    safe = target / f"{name}.SAFE"
    shutil.rmtree(safe, ignore_errors=True)
    safe.mkdir(parents=True)
    (safe / "manifest.safe").write_bytes(
        manifest if manifest is not None else (metadata / "manifest.safe").read_bytes()
    )
    for key, blocks in measurements.items():
        swath = files[key]
        written: list[str] = []
        for relative in (swath.annotation, swath.calibration, swath.noise):
            if relative is None:
                continue
            new, contents = replace.get(relative, (relative, (metadata / relative).read_bytes()))
            (safe / new).parent.mkdir(parents=True, exist_ok=True)
            (safe / new).write_bytes(contents)
            written.append(new)
        annotation = safe / written[0]
        measurement = safe / "measurement" / annotation.with_suffix(".tiff").name
        write_measurement(measurement, annotation.read_bytes(), blocks)
    return safe


def _name_of(manifest: bytes) -> str:
    from geocube_ingest.demo.s1_manifest import product_name

    return product_name(manifest)


def zip_safe(safe: Path, target: Path) -> Path:
    """ESA's archive layout (`X.SAFE/` at the top); TIFFs stored as they are (their tiles are deflated)."""
    partial = target.with_name(target.name + ".part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(safe.rglob("*")):
            if path.is_file():
                stored = path.suffix.lower() in (".tif", ".tiff")
                archive.write(
                    path,
                    path.relative_to(safe.parent).as_posix(),
                    compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED,
                )
    partial.replace(target)
    return target
