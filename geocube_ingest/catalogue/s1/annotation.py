"""The parts of a Sentinel-1 product annotation (one swath, one polarisation) that burst splitting needs.

Only the burst timing and the geolocation grid are read; the XML is parsed with the standard
library (external entities are never resolved by it).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from geocube_ingest.catalogue.dates import parse_datetime
from geocube_ingest.errors import InvalidInput

T = TypeVar("T")


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


def _number(text: str) -> int:
    # Annotations hold small counts and ids: a long string of digits is not one (and int() of it is slow).
    if len(text) > 20:
        raise ValueError("too many digits")
    return int(text)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("not finite")
    return value


def _convert(text: str, convert: Callable[[str], T], path: str, source: str) -> T:
    """A value of the annotation; InvalidInput names the element (not the value: it may be huge)."""
    try:
        return convert(text)
    except (ValueError, OverflowError):
        kind = {_number: "an integer", _finite: "a number", parse_datetime: "a date-time"}.get(convert, "valid")
        raise InvalidInput(f"annotation {source}: {path} is not {kind}") from None


def _value(root: ET.Element, path: str, source: str, convert: Callable[[str], T]) -> T:
    return _convert(_text(root, path, source), convert, path, source)


def _burst(node: ET.Element, index: int, source: str) -> BurstTiming:
    burst_id = node.find("burstId")
    text = burst_id.text.strip() if burst_id is not None and burst_id.text else ""
    esa_id = _convert(text, _number, "burstId", source) if text else None
    absolute = burst_id.get("absolute") if burst_id is not None else None
    return BurstTiming(
        index=index,
        azimuth_time=_value(node, "azimuthTime", source, parse_datetime),
        azimuth_anx_time=_value(node, "azimuthAnxTime", source, _finite),
        sensing_time=_value(node, "sensingTime", source, parse_datetime),
        esa_burst_id=esa_id,
        esa_absolute_burst_id=_convert(absolute, _number, "burstId@absolute", source) if absolute else None,
    )


def _grid_point(node: ET.Element, source: str) -> GridPoint:
    return GridPoint(
        line=_value(node, "line", source, _number),
        pixel=_value(node, "pixel", source, _number),
        latitude=_value(node, "latitude", source, _finite),
        longitude=_value(node, "longitude", source, _finite),
    )


def _positive(value: int, path: str, source: str) -> int:
    if value <= 0:
        raise InvalidInput(f"annotation {source}: {path} must be positive")
    return value


def parse_annotation(data: bytes, source: str = "") -> SwathAnnotation:
    """Parse a product annotation file; InvalidInput names the file and what is missing or malformed."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise InvalidInput(f"annotation {source}: not valid XML ({exc})") from None
    if root.tag != "product":  # the tag is not repeated: the file may be anything the link pointed at
        raise InvalidInput(f"annotation {source}: not a Sentinel-1 product annotation")
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
        start_time=_value(root, "adsHeader/startTime", source, parse_datetime),
        stop_time=_value(root, "adsHeader/stopTime", source, parse_datetime),
        absolute_orbit=_positive(_value(root, "adsHeader/absoluteOrbitNumber", source, _number), "orbit", source),
        pass_direction=(_optional(root, "generalAnnotation/productInformation/pass") or "").upper(),
        anx_time=_convert(anx, parse_datetime, "ascendingNodeTime", source) if anx else None,
        azimuth_time_interval=_value(root, "imageAnnotation/imageInformation/azimuthTimeInterval", source, _finite),
        lines_per_burst=_positive(_value(root, "swathTiming/linesPerBurst", source, _number), "lines", source),
        samples_per_burst=_positive(_value(root, "swathTiming/samplesPerBurst", source, _number), "samples", source),
        number_of_lines=_positive(
            _value(root, "imageAnnotation/imageInformation/numberOfLines", source, _number), "lines", source
        ),
        bursts=bursts,
        grid=grid,
    )
