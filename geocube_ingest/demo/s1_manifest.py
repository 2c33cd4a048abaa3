"""What a Sentinel-1 GRD `manifest.safe` says, and the same product acquired whole repeat cycles later.

The demo's time series is one real product (its manifest is in `data/`) seen again every
12 days: Sentinel-1 repeats its ground track every 175 orbits, so a later pass over the
same slice has the same relative orbit and footprint, its times shifted by whole cycles,
its absolute orbit 175 per cycle further, a later datatake, and so a new name. ESA's
product unique id (the name's last 4 characters) is the CRC-16/CCITT of the manifest:
the fixture's `6FF8` is exactly that, and patched manifests get theirs the same way.
"""

from __future__ import annotations

import binascii
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timedelta

from shapely.geometry import Polygon

from geocube_ingest.catalogue.dates import parse_datetime
from geocube_ingest.catalogue.s1.manifest import parse_manifest as parse_orbits
from geocube_ingest.errors import InvalidInput

REPEAT_DAYS = 12
ORBITS_PER_CYCLE = 175
# About 8.5 datatakes per orbit: the rate between the S1A products of the recorded fixtures (2020-2023).
DATATAKES_PER_CYCLE = 1488
POLARISATION_CODES = {("VV", "VH"): "DV", ("HH", "HV"): "DH", ("VV",): "SV", ("HH",): "SH"}

_NS = {
    "safe": "http://www.esa.int/safe/sentinel-1.0",
    "s1": "http://www.esa.int/safe/sentinel-1.0/sentinel-1",
    "s1sarl1": "http://www.esa.int/safe/sentinel-1.0/sentinel-1/sar/level-1",
    "gml": "http://www.opengis.net/gml",
}
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?")
_COMPACT = re.compile(r"(\d{8})([Tt])(\d{6})")
_RESOURCE_ID = re.compile(r"(S1[A-D]_[A-Z0-9_]+_\d{6}_[0-9A-F]{6})_([0-9A-F]{4})(\.SAFE)")


@dataclass(frozen=True, slots=True)
class ManifestFacts:
    """The facts of a manifest a catalogue item and a product name are made of."""

    mission: str  # S1A
    nssdc_id: str  # 2014-016A
    mode: str  # IW, EW, SM, WV
    beam: str  # the name's mode field: IW, EW, WV, or the stripmap swath S1..S6
    product_type: str  # GRD
    product_class: str  # S (standard)
    polarisations: tuple[str, ...]  # ("VV", "VH")
    start: datetime
    stop: datetime
    absolute_orbit: int
    relative_orbit: int
    cycle: int
    orbit_pass: str  # ASCENDING / DESCENDING
    ascending_node: datetime
    datatake: int
    instrument_configuration: str
    timeliness: str  # NRT-3h, Fast-24h...
    slice_number: str
    total_slices: str
    processing_stop: datetime
    ipf_version: str
    footprint: Polygon  # lon/lat, corners in the manifest's order (last line near range first)

    @property
    def polarisation_code(self) -> str:
        if self.polarisations not in POLARISATION_CODES:
            raise InvalidInput(f"manifest.safe: no product name code for polarisations {self.polarisations}")
        return POLARISATION_CODES[self.polarisations]


def _text(root: ET.Element, path: str) -> str:
    node = root.find(path, _NS)
    if node is None or node.text is None:
        raise InvalidInput(f"manifest.safe: no {path.split('/')[-1]}")
    return node.text.strip()


def _footprint(root: ET.Element) -> Polygon:
    text = _text(root, ".//safe:footPrint/gml:coordinates")
    pairs = [tuple(float(v) for v in point.split(",")) for point in text.split()]
    return Polygon([(lon, lat) for lat, lon in pairs])


def parse_manifest(data: bytes) -> ManifestFacts:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise InvalidInput(f"manifest.safe is not valid XML ({exc})") from None
    info = ".//s1sarl1:standAloneProductInformation/s1sarl1:"
    orbits = parse_orbits(data, "manifest.safe")
    processing = root.find(".//safe:processing", _NS)
    software = root.find(".//safe:software", _NS)
    if processing is None or software is None:
        raise InvalidInput("manifest.safe: no processing information")
    return ManifestFacts(
        mission="S1" + _text(root, ".//safe:platform/safe:number"),
        nssdc_id=_text(root, ".//safe:platform/safe:nssdcIdentifier"),
        mode=(mode := _text(root, ".//s1sarl1:instrumentMode/s1sarl1:mode")),
        beam=_text(root, ".//s1sarl1:instrumentMode/s1sarl1:swath") if mode == "SM" else mode,
        product_type=_text(root, info + "productType"),
        product_class=_text(root, info + "productClass"),
        polarisations=tuple(
            (n.text or "").strip() for n in root.iterfind(info + "transmitterReceiverPolarisation", _NS)
        ),
        start=parse_datetime(_text(root, ".//safe:acquisitionPeriod/safe:startTime")),
        stop=parse_datetime(_text(root, ".//safe:acquisitionPeriod/safe:stopTime")),
        absolute_orbit=orbits.absolute_start,
        relative_orbit=orbits.relative_start,
        cycle=int(_text(root, ".//safe:orbitReference/safe:cycleNumber")),
        orbit_pass=orbits.pass_direction,
        ascending_node=parse_datetime(_text(root, ".//s1:orbitProperties/s1:ascendingNodeTime")),
        datatake=int(_text(root, info + "missionDataTakeID")),
        instrument_configuration=_text(root, info + "instrumentConfigurationID"),
        timeliness=_text(root, info + "productTimelinessCategory"),
        slice_number=_text(root, info + "sliceNumber"),
        total_slices=_text(root, info + "totalSlices"),
        processing_stop=parse_datetime(processing.get("stop", "")),
        ipf_version=software.get("version", ""),
        footprint=_footprint(root),
    )


def unique_id(manifest: bytes) -> str:
    """ESA's product unique identifier: CRC-16/CCITT (initial value 0xFFFF) of the manifest, in hex."""
    return f"{binascii.crc_hqx(manifest, 0xFFFF):04X}"


def product_name(manifest: bytes, resolution: str = "H") -> str:
    """The product's name by the S1 naming convention (a GRD's `resolution` is not in the manifest: H, M or F)."""
    facts = parse_manifest(manifest)
    kind = facts.product_type.ljust(3, "_") + (resolution if facts.product_type == "GRD" else "_")
    return "_".join(
        [
            facts.mission,
            facts.beam,
            kind,
            f"1{facts.product_class}{facts.polarisation_code}",
            f"{facts.start:%Y%m%dT%H%M%S}",
            f"{facts.stop:%Y%m%dT%H%M%S}",
            f"{facts.absolute_orbit:06d}",
            f"{facts.datatake:06X}",
            unique_id(manifest),
        ]
    )


def _shift_iso(text: str, delta: timedelta, around: datetime) -> str:
    def replace(match: re.Match[str]) -> str:
        when = datetime.fromisoformat(match.group(0))
        if abs(when - around) > timedelta(days=2):
            return match.group(0)  # auxiliary data validity dates and the like do not move
        fraction = match.group(0).partition(".")[2]
        shifted = when + delta
        return f"{shifted:%Y-%m-%dT%H:%M:%S}" + (f".{shifted.microsecond:06d}"[: len(fraction) + 1] if fraction else "")

    return _ISO.sub(replace, text)


def _shift_compact(text: str, delta: timedelta, around: datetime) -> str:
    def replace(match: re.Match[str]) -> str:
        when = datetime.strptime(match.group(1) + match.group(3), "%Y%m%d%H%M%S")
        if abs(when - around) > timedelta(days=2):
            return match.group(0)
        shifted = when + delta
        return f"{shifted:%Y%m%d}{match.group(2)}{shifted:%H%M%S}"

    return _COMPACT.sub(replace, text)


def repeat_pass(manifest: bytes, cycles: int) -> bytes:
    """The manifest of the same slice acquired `cycles` repeat cycles later (the same bytes for 0)."""
    if cycles < 0:
        raise InvalidInput(f"cycles must be >= 0 (got {cycles})")
    if cycles == 0:
        return manifest
    facts = parse_manifest(manifest)
    text = manifest.decode("utf-8")
    start = facts.start.replace(tzinfo=None)
    delta = timedelta(days=REPEAT_DAYS * cycles)
    text = _shift_compact(_shift_iso(text, delta, start), delta, start)
    orbit = facts.absolute_orbit + ORBITS_PER_CYCLE * cycles
    text = text.replace(f"{facts.absolute_orbit:06d}", f"{orbit:06d}")
    text = re.sub(rf"(orbitNumber type=\"(?:start|stop)\">){facts.absolute_orbit}<", rf"\g<1>{orbit}<", text)
    datatake = facts.datatake + DATATAKES_PER_CYCLE * cycles
    text = text.replace(f"{facts.datatake:06X}", f"{datatake:06X}").replace(f"{facts.datatake:06x}", f"{datatake:06x}")
    text = text.replace(f">{facts.datatake}<", f">{datatake}<")
    text = text.replace(f"<safe:cycleNumber>{facts.cycle}<", f"<safe:cycleNumber>{facts.cycle + cycles}<")
    # The intermediate SLC and the raw product it names are other products now: their unique ids change too.
    text = _RESOURCE_ID.sub(lambda m: f"{m.group(1)}_{unique_id(m.group(1).encode())}{m.group(3)}", text)
    return text.encode("utf-8")
