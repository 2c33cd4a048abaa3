"""The parts of a Sentinel-1 product annotation (one swath, one polarisation) that burst splitting needs.

Only the burst timing and the geolocation grid are read; the XML is parsed with the standard
library (external entities are never resolved by it).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime

from geocube_ingest.catalogue.dates import parse_datetime
from geocube_ingest.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class BurstTiming:
    """One `swathTiming/burstList/burst` entry."""

    index: int  # 1-based position in the swath (upstream's tile_nr)
    azimuth_time: datetime  # zero-Doppler time of the first line: ESA burst ids count from its mid-burst time
    azimuth_anx_time: float  # seconds since the ascending node, zero-Doppler
    sensing_time: datetime  # sensing time of the first input line
    esa_burst_id: int | None  # `<burstId>` (IPF >= 3.40), relative to the track
    esa_absolute_burst_id: int | None  # its `absolute` attribute


@dataclass(frozen=True, slots=True)
class GridPoint:
    line: int
    pixel: int
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class SwathAnnotation:
    mission: str  # S1A, S1B, S1C...
    mode: str  # IW, EW...
    swath: str  # IW1, IW2, IW3...
    polarisation: str
    product_type: str
    start_time: datetime
    stop_time: datetime
    absolute_orbit: int
    pass_direction: str  # ASCENDING / DESCENDING ("" when absent)
    anx_time: datetime | None  # imageInformation/ascendingNodeTime
    azimuth_time_interval: float  # seconds between lines (imageInformation/azimuthTimeInterval)
    lines_per_burst: int
    samples_per_burst: int
    number_of_lines: int
    bursts: tuple[BurstTiming, ...]
    grid: tuple[GridPoint, ...]


def _text(root: ET.Element, path: str, source: str) -> str:
    node = root.find(path)
    if node is None or node.text is None:
        raise InvalidInput(f"annotation {source}: missing {path}")
    return node.text.strip()


def _optional(root: ET.Element, path: str) -> str | None:
    node = root.find(path)
    return node.text.strip() if node is not None and node.text else None


def _burst(node: ET.Element, index: int, source: str) -> BurstTiming:
    burst_id = node.find("burstId")
    esa_id = int(burst_id.text) if burst_id is not None and burst_id.text and burst_id.text.strip() else None
    absolute = burst_id.get("absolute") if burst_id is not None else None
    return BurstTiming(
        index=index,
        azimuth_time=parse_datetime(_text(node, "azimuthTime", source)),
        azimuth_anx_time=float(_text(node, "azimuthAnxTime", source)),
        sensing_time=parse_datetime(_text(node, "sensingTime", source)),
        esa_burst_id=esa_id,
        esa_absolute_burst_id=int(absolute) if absolute else None,
    )


def _grid_point(node: ET.Element, source: str) -> GridPoint:
    return GridPoint(
        line=int(_text(node, "line", source)),
        pixel=int(_text(node, "pixel", source)),
        latitude=float(_text(node, "latitude", source)),
        longitude=float(_text(node, "longitude", source)),
    )


def parse_annotation(data: bytes, source: str = "") -> SwathAnnotation:
    """Parse a product annotation file; InvalidInput names the file and what is missing or malformed."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise InvalidInput(f"annotation {source}: not valid XML ({exc})") from None
    if root.tag != "product":
        raise InvalidInput(f"annotation {source}: not a Sentinel-1 product annotation (root <{root.tag}>)")
    try:
        return _swath_annotation(root, source)
    except ValueError as exc:
        raise InvalidInput(f"annotation {source}: {exc}") from None


def _swath_annotation(root: ET.Element, source: str) -> SwathAnnotation:
    anx = _optional(root, "imageAnnotation/imageInformation/ascendingNodeTime")
    bursts = tuple(
        _burst(node, i, source) for i, node in enumerate(root.iterfind("swathTiming/burstList/burst"), start=1)
    )
    grid = tuple(
        _grid_point(node, source)
        for node in root.iterfind("geolocationGrid/geolocationGridPointList/geolocationGridPoint")
    )
    if not grid:
        raise InvalidInput(f"annotation {source}: no geolocation grid")
    return SwathAnnotation(
        mission=_text(root, "adsHeader/missionId", source).upper(),
        mode=_text(root, "adsHeader/mode", source).upper(),
        swath=_text(root, "adsHeader/swath", source).upper(),
        polarisation=_text(root, "adsHeader/polarisation", source).upper(),
        product_type=_text(root, "adsHeader/productType", source).upper(),
        start_time=parse_datetime(_text(root, "adsHeader/startTime", source)),
        stop_time=parse_datetime(_text(root, "adsHeader/stopTime", source)),
        absolute_orbit=int(_text(root, "adsHeader/absoluteOrbitNumber", source)),
        pass_direction=(_optional(root, "generalAnnotation/productInformation/pass") or "").upper(),
        anx_time=parse_datetime(anx) if anx else None,
        azimuth_time_interval=float(_text(root, "imageAnnotation/imageInformation/azimuthTimeInterval", source)),
        lines_per_burst=int(_text(root, "swathTiming/linesPerBurst", source)),
        samples_per_burst=int(_text(root, "swathTiming/samplesPerBurst", source)),
        number_of_lines=int(_text(root, "imageAnnotation/imageInformation/numberOfLines", source)),
        bursts=bursts,
        grid=grid,
    )
