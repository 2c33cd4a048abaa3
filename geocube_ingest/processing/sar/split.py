"""One burst of a Sentinel-1 IW SLC product as a small file of its own: the "burst product".

A scene graph runs once per burst (tile) of a downloaded SLC product; each burst's tile
graph needs only that burst, and the next acquisition's tile graph needs it again as its
previous. So the burst is stored alone: a zip holding the SAFE's `manifest.safe`, the
swath's annotation, calibration and noise XMLs of each polarisation unchanged, and a
measurement GeoTIFF of the swath's full size (same lines, samples, GCPs) in which only the
burst's lines are written, tiled with GDAL's SPARSE_OK so unwritten tiles take no bytes.
Readers of SAFE products (xarray-sentinel, `processing.sar.burst`) read it unchanged, and
the burst's lines keep their numbers in the annotation. `burst.json` at the top of the zip
names the swath, the burst (1-based, the tile's `tile_nr`) and the polarisations.

About 1/9 of a swath is stored instead of three swaths: one IW burst of one polarisation is
1,500 lines of ~23,000 complex int16 samples, ~140 MB before compression.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import rasterio
from rasterio.windows import Window

from geocube_ingest.access import check_source_name
from geocube_ingest.catalogue.s1.annotation import SwathAnnotation, parse_annotation
from geocube_ingest.errors import InvalidInput

BURST_JSON = "burst.json"
BLOCK = 256  # tile size of the sparse measurement; lines are copied this many at a time
_FILE = re.compile(r"(?:^|/)(?:(calibration|noise)-)?s1[a-d]-(iw\d|ew\d)-slc-(vv|vh|hh|hv)-[^/]*\.(xml|tiff?)$", re.I)
_SWATH = re.compile(r"^(IW|EW)[1-5]$")


@dataclass(frozen=True)
class BurstInfo:
    """What `burst.json` says: which burst of which product the file holds."""

    product: str  # the SAFE's name, without `.SAFE`
    swath: str  # IW1
    burst_index: int  # 1-based position in the swath (the tile's `tile_nr`)
    polarisations: tuple[str, ...]  # ("VV", "VH")
    first_line: int  # of the burst in the swath's measurement
    lines: int  # linesPerBurst
    samples: int  # samplesPerBurst
    burst_id: str = ""  # ESA's burst id when the tile gave it (t071_151199_iw3)

    def group(self, polarisation: str) -> str:
        """xarray-sentinel's group of this burst in `polarisation` (its burst numbers are 0-based)."""
        return f"{self.swath}/{polarisation.upper()}/{self.burst_index - 1}"

    @classmethod
    def from_json(cls, data: bytes, where: str) -> BurstInfo:
        try:
            values = json.loads(data)
            info = cls(
                product=str(values["product"]),
                swath=str(values["swath"]).upper(),
                burst_index=int(values["burst_index"]),
                polarisations=tuple(str(p).upper() for p in values["polarisations"]),
                first_line=int(values["first_line"]),
                lines=int(values["lines"]),
                samples=int(values["samples"]),
                burst_id=str(values.get("burst_id", "")),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"{where}: {BURST_JSON} is not a burst description ({exc!r})") from None
        if not _SWATH.match(info.swath) or info.burst_index < 1 or not info.polarisations:
            raise InvalidInput(f"{where}: {BURST_JSON} names no valid swath, burst and polarisation")
        check_source_name(info.product, f"{where}: {BURST_JSON} product")  # it names a folder of the scratch
        return info


class _Source:
    """The members of a SAFE product, a folder or a zip (GDAL reads a zip's TIFF through `/vsizip/`)."""

    def __init__(self, path: Path):
        self.path = path
        if path.is_dir():
            self.members = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
            self.gdal_prefix = str(path)
            self.zipped = False
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                self.members = sorted(m for m in archive.namelist() if not m.endswith("/"))
            self.gdal_prefix = f"/vsizip/{path}"
            self.zipped = True
        else:
            raise InvalidInput(f"{path.name}: neither a SAFE folder nor a zip archive")
        manifests = sorted((m for m in self.members if m.rsplit("/", 1)[-1] == "manifest.safe"), key=len)
        if not manifests:
            raise InvalidInput(f"{path.name}: no manifest.safe, not a SAFE product")
        self.manifest = manifests[0]
        self.root = self.manifest.rpartition("/")[0]  # "" for a folder, "X.SAFE" in a zip

    def read(self, member: str) -> bytes:
        if not self.zipped:
            return (self.path / member).read_bytes()
        with zipfile.ZipFile(self.path) as archive:
            return archive.read(member)

    def relative(self, member: str) -> str:
        return member[len(self.root) + 1 :] if self.root else member

    def swath_files(self, swath: str) -> dict[str, dict[str, str]]:
        """polarisation -> kind (annotation, calibration, noise, measurement) -> member."""
        files: dict[str, dict[str, str]] = {}
        for member in self.members:
            if self.root and not member.startswith(self.root + "/"):
                continue
            match = _FILE.search(member)
            if match is None or match.group(2).upper() != swath:
                continue
            prefix, _, pol, ext = match.groups()
            kind = prefix.lower() if prefix else ("measurement" if ext.lower().startswith("tif") else "annotation")
            if kind == "annotation" and "/annotation/" not in f"/{self.relative(member)}":
                continue
            files.setdefault(pol.upper(), {})[kind] = member
        return files


def _product_name(source: _Source) -> str:
    name = (source.root or source.path.name).rsplit("/", 1)[-1]
    for suffix in (".zip", ".SAFE"):
        name = name.removesuffix(suffix)
    return name


def _annotation(source: _Source, member: str) -> SwathAnnotation:
    return parse_annotation(source.read(member), source.relative(member))


def _choose(files: dict[str, dict[str, str]], wanted: Sequence[str], where: str) -> list[str]:
    complete = sorted(p for p, kinds in files.items() if {"annotation", "measurement"} <= set(kinds))
    if not wanted:
        if not complete:
            raise InvalidInput(f"{where}: no polarisation with both an annotation and a measurement")
        return complete
    missing = [p for p in wanted if p not in complete]
    if missing:
        raise InvalidInput(
            f"{where}: polarisation {', '.join(missing)} not in the product (it has {complete or 'none'})"
        )
    return list(wanted)


def parse_polarisations(text: str | None) -> list[str]:
    """`"VV,VH"`, `"VV VH"` or empty (all of the product)."""
    values = [p.strip().upper() for p in re.split(r"[,\s]+", text or "") if p.strip()]
    bad = [p for p in values if p not in ("VV", "VH", "HH", "HV")]
    if bad:
        raise InvalidInput(f"unknown polarisation {', '.join(bad)} (VV, VH, HH, HV)")
    return values


def _copy_burst_lines(source: str, target: Path, first: int, lines: int) -> None:
    """The swath-sized sparse GeoTIFF: only lines first..first+lines written, BLOCK lines at a time."""
    with rasterio.open(source) as src:
        gcps, gcp_crs = src.gcps
        profile = {
            "driver": "GTiff",
            "width": src.width,
            "height": src.height,
            "count": 1,
            "dtype": src.dtypes[0],
            "tiled": True,
            "blockxsize": BLOCK,
            "blockysize": BLOCK,
            "compress": "deflate",
            "sparse_ok": True,
        }
        if gcps:
            profile.update(gcps=gcps, crs=gcp_crs)
        with rasterio.open(target, "w", **profile) as dst:
            # One pass per row of tiles: a compressed tile written twice would be stored twice.
            for tile_row in range(first // BLOCK * BLOCK, first + lines, BLOCK):
                row = max(tile_row, first)
                height = min(tile_row + BLOCK, first + lines) - row
                values = src.read(1, window=Window(0, row, src.width, height))
                # Parts without data (outside the swath's valid samples, or never written) stay sparse.
                for col in range(0, src.width, BLOCK):
                    part = values[:, col : col + BLOCK]
                    if part.any():
                        dst.write(part, 1, window=Window(col, row, part.shape[1], height))


def split_burst(
    product: Path,
    swath: str,
    burst_index: int,
    output: Path,
    polarisations: Sequence[str] = (),
    burst_id: str = "",
) -> BurstInfo:
    """Write the burst product of burst `burst_index` (1-based) of `swath` to the zip `output`."""
    source = _Source(product)
    swath = swath.strip().upper()
    if not _SWATH.match(swath):
        raise InvalidInput(f"swath {swath!r} is not an IW/EW swath (IW1, IW2, IW3...)")
    files = source.swath_files(swath)
    if not files:
        raise InvalidInput(f"{product.name}: no {swath} files in the product")
    pols = _choose(files, polarisations, f"{product.name} {swath}")
    annotation = _annotation(source, files[pols[0]]["annotation"])
    if not 1 <= burst_index <= len(annotation.bursts):
        raise InvalidInput(f"{product.name} {swath}: no burst {burst_index} (it has {len(annotation.bursts)})")
    first = (burst_index - 1) * annotation.lines_per_burst
    info = BurstInfo(
        product=_product_name(source),
        swath=swath,
        burst_index=burst_index,
        polarisations=tuple(pols),
        first_line=first,
        lines=annotation.lines_per_burst,
        samples=annotation.samples_per_burst,
        burst_id=burst_id,
    )
    safe = f"{info.product}.SAFE"
    partial = output.with_name(output.name + ".part")
    scratch = output.with_name(f".{output.name}.measurement.tiff")
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(BURST_JSON, json.dumps(asdict(info), indent=1))
            archive.writestr(f"{safe}/manifest.safe", source.read(source.manifest))
            for pol in pols:
                for kind, member in sorted(files[pol].items()):
                    name = f"{safe}/{source.relative(member)}"
                    if kind != "measurement":
                        archive.writestr(name, source.read(member))
                        continue
                    _copy_burst_lines(f"{source.gdal_prefix}/{member}", scratch, first, info.lines)
                    # Already deflated tile by tile: stored as is.
                    archive.write(scratch, name, compress_type=zipfile.ZIP_STORED)
                    scratch.unlink()
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
        scratch.unlink(missing_ok=True)
    return info


def read_burst_info(path: Path) -> BurstInfo:
    """`burst.json` of a burst product (a zip, or the folder it was unpacked to)."""
    if path.is_dir():
        json_file = path / BURST_JSON
        if not json_file.is_file():
            raise InvalidInput(f"{path.name}: no {BURST_JSON}, not a burst product")
        return BurstInfo.from_json(json_file.read_bytes(), path.name)
    if not zipfile.is_zipfile(path):
        raise InvalidInput(f"{path.name}: not a burst product (a zip made by the S1SlcBursts graph)")
    with zipfile.ZipFile(path) as archive:
        if BURST_JSON not in archive.namelist():
            raise InvalidInput(f"{path.name}: no {BURST_JSON}, not a burst product")
        return BurstInfo.from_json(archive.read(BURST_JSON), path.name)


def unpack_burst(path: Path, scratch: Path) -> tuple[Path, BurstInfo]:
    """The `.SAFE` folder of a burst product and what its `burst.json` says. Unpacked once
    under `scratch` (with the archive limits of any download) and reused by the job's other
    steps; the job's scratch folder goes with it."""
    from geocube_ingest.download.archive import unpack_archive

    if not path.is_file():
        raise InvalidInput(f"burst product {path.name} is not there (is it an in_files entry of the graph?)")
    info = read_burst_info(path)
    target = scratch / f".{path.name}.unpacked"
    if not (target / BURST_JSON).is_file():
        shutil.rmtree(target, ignore_errors=True)
        unpack_archive(path, target)
    safe = target / f"{info.product}.SAFE"
    if not (safe / "manifest.safe").is_file():
        raise InvalidInput(f"{path.name}: no {info.product}.SAFE/manifest.safe in the burst product")
    return safe, info
