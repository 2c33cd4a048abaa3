"""Sentinel-2 L1C/L2A products (SAFE folder or zip): band files, offsets, scene classification.

Bands are read where they are through GDAL paths (`/vsizip/` for a zipped SAFE), never
unpacked. Reflectance = (DN + offset) / quantification, where the offset is -1000 from
processing baseline 04.00 on (RADIO_ADD_OFFSET for L1C, BOA_ADD_OFFSET for L2A) and 0 before.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geocube_ingest.errors import InvalidInput

# Order of `band_id` in the metadata (0..12).
BAND_IDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
NATIVE_RESOLUTION = {
    "B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20,
    "B08": 10, "B8A": 20, "B09": 60, "B10": 60, "B11": 20, "B12": 20, "SCL": 20,
}  # fmt: skip
# Scene classification classes (L2A).
SCL_CLASSES = {
    0: "NO_DATA", 1: "SATURATED_OR_DEFECTIVE", 2: "CAST_SHADOWS", 3: "CLOUD_SHADOWS", 4: "VEGETATION",
    5: "NOT_VEGETATED", 6: "WATER", 7: "UNCLASSIFIED", 8: "CLOUD_MEDIUM_PROBABILITY",
    9: "CLOUD_HIGH_PROBABILITY", 10: "THIN_CIRRUS", 11: "SNOW",
}  # fmt: skip
DEFAULT_CLOUD_CLASSES = (3, 8, 9, 10)
BASELINE_WITH_OFFSET = (4, 0)
DEFAULT_OFFSET = -1000

_BAND_FILE = re.compile(r"_(B\d[\dA]|SCL|AOT|WVP|TCI)(?:_(\d+)m)?\.(?:jp2|tiff?)$", re.IGNORECASE)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@dataclass
class S2Product:
    """Where the band files of one product are, and how to turn their DN into reflectance."""

    name: str
    level: str
    baseline: str
    quantification: float
    offsets: dict[str, int]
    # band -> {resolution: GDAL path}
    files: dict[str, dict[int, str]] = field(default_factory=dict)

    @classmethod
    def open(cls, path: str | Path) -> S2Product:
        path = Path(path)
        if path.is_dir():
            members = [p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()]
            prefix = str(path)
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.namelist() if not m.endswith("/")]
            prefix = f"/vsizip/{path}"
        else:
            raise InvalidInput(f"{path} is neither a SAFE folder nor a zip archive")
        mtd = [m for m in members if re.search(r"(^|/)MTD_MSIL(1C|2A)\.xml$", m) and m.count("/") <= 1]
        if not mtd:
            raise InvalidInput(f"{path.name}: no MTD_MSIL1C.xml / MTD_MSIL2A.xml, not a Sentinel-2 product")
        product = cls._from_metadata(cls._read(path, mtd[0]), mtd[0])
        for member in members:
            if "/IMG_DATA/" not in f"/{member}":
                continue
            match = _BAND_FILE.search(member)
            if not match:
                continue
            band = match.group(1).upper()
            resolution = int(match.group(2)) if match.group(2) else NATIVE_RESOLUTION.get(band, 0)
            product.files.setdefault(band, {})[resolution] = f"{prefix}/{member}"
        if not product.files:
            raise InvalidInput(f"{path.name}: no band files under GRANULE/*/IMG_DATA")
        return product

    @staticmethod
    def _read(path: Path, member: str) -> bytes:
        if path.is_dir():
            return (path / member).read_bytes()
        with zipfile.ZipFile(path) as archive:
            return archive.read(member)

    @classmethod
    def _from_metadata(cls, xml: bytes, member: str) -> S2Product:
        root = ET.fromstring(xml)
        values: dict[str, str] = {}
        offsets: dict[str, int] = {}
        for element in root.iter():
            tag = _local(element.tag)
            text = (element.text or "").strip()
            if tag in ("RADIO_ADD_OFFSET", "BOA_ADD_OFFSET"):
                band_id = int(element.get("band_id", "-1"))
                if 0 <= band_id < len(BAND_IDS):
                    offsets[BAND_IDS[band_id]] = int(float(text))
            elif tag in ("PROCESSING_BASELINE", "PRODUCT_TYPE", "QUANTIFICATION_VALUE", "BOA_QUANTIFICATION_VALUE"):
                values.setdefault(tag, text)
        level = "L2A" if "2A" in (values.get("PRODUCT_TYPE", "") or member) else "L1C"
        baseline = values.get("PROCESSING_BASELINE", "")
        quantification = float(values.get("BOA_QUANTIFICATION_VALUE") or values.get("QUANTIFICATION_VALUE") or 10000)
        if not offsets and _baseline_tuple(baseline) >= BASELINE_WITH_OFFSET:
            # Products of baseline 04.00+ always carry an offset; older metadata may omit it.
            offsets = dict.fromkeys(BAND_IDS, DEFAULT_OFFSET)
        name = member.split("/", 1)[0].removesuffix(".SAFE") if "/" in member else ""
        return cls(name=name, level=level, baseline=baseline, quantification=quantification, offsets=offsets)

    @property
    def bands(self) -> list[str]:
        return [b for b in BAND_IDS if b in self.files]

    def band_path(self, band: str, resolution: int | None = None) -> tuple[str, int]:
        """The file of `band` at `resolution` (the finest available when None)."""
        band = normalise_band(band)
        available = self.files.get(band)
        if not available:
            raise InvalidInput(f"band {band} is not in the product (it has {', '.join(sorted(self.files))})")
        if resolution is None:
            resolution = min(available)
        if resolution not in available:
            finer = [r for r in available if r <= resolution]
            resolution = max(finer) if finer else min(available)
        return available[resolution], resolution

    def offset(self, band: str) -> int:
        return self.offsets.get(normalise_band(band), 0)


def harmonised_dn(dn: np.ndarray, offset: int) -> np.ndarray:
    """DNs of a baseline with an offset on the pre-04.00 scale: no-data (0) stays 0, the rest
    is clipped to 1..65535 (one pass per operation, in place: this runs on every pixel)."""
    shifted = dn.astype(np.int32)
    shifted += offset
    np.clip(shifted, 1, 65535, out=shifted)
    shifted[dn == 0] = 0
    return shifted.astype(np.uint16)


def _baseline_tuple(baseline: str) -> tuple[int, int]:
    try:
        major, minor = baseline.split(".")
        return int(major), int(minor)
    except ValueError:
        return (0, 0)


def normalise_band(name: str) -> str:
    """`B4`, `b04` and `B04` name the same band; `B8A` stays."""
    name = name.strip().upper()
    match = re.fullmatch(r"B(\d{1,2})(A?)", name)
    if match:
        return f"B{int(match.group(1)):02d}{match.group(2)}" if not match.group(2) else f"B{int(match.group(1))}A"
    return name


def parse_classes(text: str | None) -> tuple[int, ...]:
    if text in (None, ""):
        return DEFAULT_CLOUD_CLASSES
    try:
        classes = tuple(int(c) for c in str(text).replace(" ", "").split(",") if c)
    except ValueError:
        raise InvalidInput(f"invalid SCL classes {text!r}: expected numbers like '3,8,9,10'") from None
    unknown = [c for c in classes if c not in SCL_CLASSES]
    if unknown:
        raise InvalidInput(f"unknown SCL classes {unknown} (0..11)")
    return classes
