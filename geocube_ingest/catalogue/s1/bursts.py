"""Bursts of a Sentinel-1 TOPS product: footprint from the geolocation grid and ESA burst id.

The footprint of burst k is the grid row at its first line followed by the grid row at its
last line (the annotation grid has one row per burst boundary), so it follows the curved
swath edges instead of joining four corners.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import shapely
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from geocube_ingest.catalogue.s1.annotation import GridPoint, SwathAnnotation
from geocube_ingest.catalogue.s1.burst_id import T_ORBIT, BurstId, burst_id, checked_relative_orbit
from geocube_ingest.catalogue.s1.manifest import ManifestOrbits
from geocube_ingest.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Burst:
    burst_id: BurstId
    swath: str  # IW1..IW3
    index: int  # 1-based position in its swath (upstream's tile_nr)
    sensing_time: datetime
    azimuth_anx_time: float
    footprint: BaseGeometry  # Polygon, or MultiPolygon when it crosses the antimeridian
    esa_burst_id: int | None  # as annotated (IPF >= 3.40), for checking
    esa_absolute_burst_id: int | None


@dataclass(frozen=True, slots=True)
class Orbits:
    """What burst ids need to know about the product's orbit."""

    track_start: int
    track_stop: int
    absolute_start: int


def product_orbits(
    swaths: Sequence[SwathAnnotation],
    manifest: ManifestOrbits | None = None,
    relative_orbit_hint: int | None = None,
    product: str = "",
) -> Orbits:
    """Orbits from ESA's formula for the absolute orbit; the manifest's (or the catalogue's) relative orbit is checked.

    Without a manifest, a product crossing the ascending node is recognised from the
    annotation times of all its swaths.
    """
    first = swaths[0]
    if manifest is not None:
        start = checked_relative_orbit(first.mission, manifest.absolute_start, manifest.relative_start, product)
        stop = checked_relative_orbit(first.mission, manifest.absolute_stop, manifest.relative_stop, product)
        return Orbits(start, stop, manifest.absolute_start)
    track = checked_relative_orbit(first.mission, first.absolute_orbit, relative_orbit_hint, product)
    stop = track
    if first.anx_time is not None:
        start_after = (min(a.start_time for a in swaths) - first.anx_time).total_seconds()
        stop_after = (max(a.stop_time for a in swaths) - first.anx_time).total_seconds()
        if start_after < T_ORBIT <= stop_after:
            stop = track % 175 + 1  # the product crosses the ascending node
    return Orbits(track, stop, first.absolute_orbit)


def _rows(grid: Iterable[GridPoint]) -> dict[int, list[GridPoint]]:
    rows: dict[int, list[GridPoint]] = defaultdict(list)
    for point in grid:
        rows[point.line].append(point)
    return {line: sorted(points, key=lambda p: p.pixel) for line, points in rows.items()}


def _nearest_row(rows: dict[int, list[GridPoint]], line: int, tolerance: int, source: str) -> list[GridPoint]:
    best = min(rows, key=lambda candidate: abs(candidate - line))
    if abs(best - line) > tolerance:
        raise InvalidInput(f"annotation {source}: no geolocation grid line near line {line}")
    return rows[best]


def _unwrap(polygon: Polygon) -> BaseGeometry:
    """A polygon whose longitudes jump across ±180 becomes two parts on either side of the antimeridian."""
    xs = [x for x, _ in polygon.exterior.coords]
    if max(xs) - min(xs) <= 180:
        return polygon
    shifted = Polygon([(x + 360 if x < 0 else x, y) for x, y in polygon.exterior.coords])
    east = shifted.intersection(box(0, -90, 180, 90))
    west = shapely.affinity.translate(shifted.intersection(box(180, -90, 540, 90)), xoff=-360)
    parts = [g for part in (east, west) for g in getattr(part, "geoms", [part]) if isinstance(g, Polygon)]
    return MultiPolygon(parts)


def burst_footprints(annotation: SwathAnnotation, source: str = "") -> list[BaseGeometry]:
    rows = _rows(annotation.grid)
    lines = annotation.lines_per_burst
    footprints: list[BaseGeometry] = []
    for burst in annotation.bursts:
        first = _nearest_row(rows, (burst.index - 1) * lines, lines // 2, source)
        last = _nearest_row(rows, burst.index * lines, lines // 2, source)
        ring = [(p.longitude, p.latitude) for p in first] + [(p.longitude, p.latitude) for p in reversed(last)]
        polygon = shapely.make_valid(Polygon(ring)) if not Polygon(ring).is_valid else Polygon(ring)
        if isinstance(polygon, Polygon):
            footprints.append(_unwrap(shapely.geometry.polygon.orient(polygon)))
        else:
            footprints.append(polygon)
    return footprints


def swath_bursts(annotation: SwathAnnotation, orbits: Orbits, source: str = "") -> list[Burst]:
    """Every burst of one swath annotation with its footprint and ESA burst id."""
    if annotation.anx_time is None:
        raise InvalidInput(f"annotation {source}: no ascendingNodeTime, burst ids cannot be computed")
    footprints = burst_footprints(annotation, source)
    return [
        Burst(
            burst_id=burst_id(
                timing.azimuth_time,
                annotation.lines_per_burst * annotation.azimuth_time_interval,
                annotation.anx_time,
                annotation.swath,
                track_start=orbits.track_start,
                track_stop=orbits.track_stop,
                absolute_orbit=orbits.absolute_start,
            ),
            swath=annotation.swath,
            index=timing.index,
            sensing_time=timing.sensing_time,
            azimuth_anx_time=timing.azimuth_anx_time,
            footprint=footprint,
            esa_burst_id=timing.esa_burst_id,
            esa_absolute_burst_id=timing.esa_absolute_burst_id,
        )
        for timing, footprint in zip(annotation.bursts, footprints, strict=True)
    ]


def product_bursts(
    annotations: Iterable[tuple[str, SwathAnnotation]],
    manifest: ManifestOrbits | None = None,
    relative_orbit_hint: int | None = None,
    product: str = "",
) -> list[Burst]:
    """Bursts of every swath (one annotation per swath; other polarisations give the same bursts).

    `product` names the product in the warning about a relative orbit its metadata gets wrong.
    """
    swaths: dict[str, tuple[str, SwathAnnotation]] = {}
    for source, annotation in annotations:
        swaths.setdefault(annotation.swath, (source, annotation))
    if not swaths:
        return []
    orbits = product_orbits([a for _, a in swaths.values()], manifest, relative_orbit_hint, product)
    bursts = [burst for source, annotation in swaths.values() for burst in swath_bursts(annotation, orbits, source)]
    return sorted(bursts, key=lambda b: (b.swath, b.index))
