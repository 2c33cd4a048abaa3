"""Demo AOIs for the API and page tests, built through the workflow's own rules.

- A Sentinel-1 AOI: six acquisitions of one track, 27 bursts each, with the real burst
  footprints of the recorded IW SLC annotations (fixtures `s1_safe/...7768.SAFE`), chained
  burst by burst; downloads and processing reported by "workers" so every status shows.
- A Sentinel-2 AOI: one MGRS tile (the footprint of `seeds/run-a-payload.md`), tile = scene.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shapely import Polygon, unary_union

from geocube_ingest.workflow import NewScene, NewTile, Outcome, TileKey, Workflow

S1_PRODUCT = "S1A_IW_SLC__1SDV_20200511T135117_20200511T135144_032518_03C421_7768.SAFE"
# ESA burst ids of the first burst of each swath for this product (fixtures README, section 1a).
FIRST_BURST = {"iw1": 151200, "iw2": 151199, "iw3": 151199}
S2_WKT = (
    "POLYGON ((8.999680177 55.89488809,8.999687664 54.95909887,10.71398549 54.94701782,"
    "10.7572757 55.93320247,9.0247385 55.94555573,8.999680177 55.89488809))"
)
S2_PARTIAL_WKT = "POLYGON ((9.62 55.94, 10.7572757 55.93320247, 10.71398549 54.94701782, 9.31 54.955, 9.62 55.94))"


def burst_footprints(fixtures_dir: Path) -> dict[str, Polygon]:
    """Burst id → polygon, from the geolocation grid rows at the burst boundaries."""
    bursts: dict[str, Polygon] = {}
    annotation_dir = fixtures_dir / "s1_safe" / S1_PRODUCT / "annotation"
    for path in sorted(annotation_dir.glob("s1a-iw?-slc-vv-*.xml")):
        swath = path.name.split("-")[1]
        root = ET.parse(path).getroot()
        lines_per_burst = int(root.findtext(".//swathTiming/linesPerBurst") or 0)
        n_bursts = len(root.findall(".//swathTiming/burstList/burst"))
        rows: dict[int, list[tuple[int, float, float]]] = {}
        for point in root.iter("geolocationGridPoint"):
            line = int(point.findtext("line") or 0)
            rows.setdefault(line, []).append(
                (
                    int(point.findtext("pixel") or 0),
                    float(point.findtext("longitude") or 0),
                    float(point.findtext("latitude") or 0),
                )
            )
        boundaries = sorted(rows)
        for i in range(n_bursts):
            top = min(boundaries, key=lambda line: abs(line - i * lines_per_burst))
            bottom = min(boundaries, key=lambda line: abs(line - (i + 1) * lines_per_burst))
            upper = [(lon, lat) for _, lon, lat in sorted(rows[top])]
            lower = [(lon, lat) for _, lon, lat in sorted(rows[bottom], reverse=True)]
            bursts[f"t071_{FIRST_BURST[swath] + i:06d}_{swath}"] = Polygon(upper + lower)
    return bursts


@dataclass
class DemoAOI:
    name: str
    scene_ids: list[int]
    tile_ids: list[int]


def retryable_tile(workflow: Workflow, aoi: str) -> int:
    """A RETRY tile whose scene and previous tile are DONE (so a manual retry is allowed)."""
    for tile in workflow.tiles(aoi, "RETRY"):
        previous = workflow.tile(tile.previous_id) if tile.previous_id else None
        if tile.scene_status.value == "DONE" and (previous is None or previous.status.value == "DONE"):
            return tile.id
    raise AssertionError("the demo has no retryable tile")


def _s1_scene_name(day: datetime, orbit: int) -> str:
    stamp = day.strftime("%Y%m%dT135117")
    stop = day.strftime("%Y%m%dT135144")
    return f"S1A_IW_SLC__1SDV_{stamp}_{stop}_{orbit:06d}_03C421_{orbit % 9973:04X}"


def build_s1(workflow: Workflow, fixtures_dir: Path, name: str = "NevadaDemoS1", dates: int = 6) -> DemoAOI:
    bursts = burst_footprints(fixtures_dir)
    footprint = unary_union(list(bursts.values())).convex_hull
    first = datetime(2020, 5, 11, 13, 51, 17, tzinfo=UTC)
    scenes = []
    previous: str | None = None
    for k in range(dates):
        day = first + timedelta(days=12 * k)
        source_id = _s1_scene_name(day, 32518 + 175 * k)
        tiles = [
            NewTile(
                burst,
                {
                    "swath_id": burst[-3:].upper(),
                    "tile_nr": int(burst[5:11]) - FIRST_BURST[burst[-3:]] + 1,
                    "graph_name": "S1BackscatterSigma0",
                    "is_retriable": True,
                    "burst_id": burst,
                },
                previous=TileKey(previous, burst) if previous else None,
                footprint=polygon.wkt,
            )
            for burst, polygon in bursts.items()
        ]
        data = {
            "uuid": f"00000000-0000-4000-8000-{k:012d}",
            "date": day.isoformat().replace("+00:00", "Z"),
            "tiles": {t.source_id: {"swath_id": t.data["swath_id"], "tile_nr": t.data["tile_nr"]} for t in tiles},
            "graph_name": "CopyProductToStorage",
            "graph_config": {},
            "record_id": "",
            "metadata": {"download_link": f"https://example.invalid/{source_id}.zip"},
            "is_retriable": True,
            "storage_uri": "",
        }
        scenes.append(NewScene(source_id, data, tiles, footprint=footprint.wkt))
        previous = source_id
    workflow.ingest(name, scenes)
    _run_workers(workflow, name)
    return DemoAOI(name, [s.id for s in workflow.scenes(name)], [t.id for t in workflow.tiles(name)])


def _run_workers(workflow: Workflow, aoi: str) -> None:
    """Downloads: four done, one to retry, one still running; then three rounds of processing."""
    leases = sorted(workflow.claim("scene", "demo-downloader", limit=100, aoi=aoi), key=lambda lease: lease.id)
    download_failed = Outcome.retry(
        "ProcessScene.ImageProviders: product not found or unavailable: copernicus: HTTP 404; asf: connection timed out"
    )
    workflow.report_many([(lease, Outcome.done() if i < 4 else download_failed) for i, lease in enumerate(leases[:5])])
    for round_ in range(3):
        results = []
        for lease in workflow.claim("tile", "demo-processor", limit=1000, aoi=aoi):
            if round_ == 2 and lease.id % 3:
                continue  # still being processed
            if round_ == 1 and lease.source_id.endswith("203_iw2"):
                outcome = Outcome.retry("ProcessTile.calibrate: GDAL read error on measurement/iw2 (truncated file)")
            elif round_ == 1 and lease.source_id.endswith("206_iw3"):
                outcome = Outcome.failed("ProcessTile.coregister: burst has no valid lines (all zero)")
            else:
                outcome = Outcome.done()
            results.append((lease, outcome))
        workflow.report_many(results)


def build_s2(workflow: Workflow, name: str = "DenmarkDemoS2", n: int = 8) -> DemoAOI:
    first = datetime(2022, 1, 4, 10, 34, 31, tzinfo=UTC)
    scenes = []
    for k in range(n):
        day = first + timedelta(days=5 * k)
        source_id = f"S2{'AB'[k % 2]}_MSIL1C_{day:%Y%m%dT%H%M%S}_N0510_R108_T32UNG_{day:%Y%m%d}T123507"
        tile = NewTile(source_id, {"swath_id": "", "tile_nr": 0, "graph_name": "ExtractS2Bands", "is_retriable": True})
        data = {
            "uuid": f"4c0e52b5-c96d-5bfc-b0f0-{k:012d}",
            "date": day.isoformat().replace("+00:00", "Z"),
            "tiles": {source_id: {"swath_id": "", "tile_nr": 0}},
            "graph_name": "CopyProductToStorage",
            "graph_config": {},
            "record_id": "",
            "metadata": None,
            "is_retriable": True,
            "storage_uri": "",
        }
        # Odd acquisitions come from the neighbouring orbit and cover the tile partly.
        tile.footprint = S2_WKT if k % 2 == 0 else S2_PARTIAL_WKT
        scenes.append(NewScene(source_id, data, [tile], footprint=tile.footprint))
    workflow.ingest(name, scenes)
    leases = sorted(workflow.claim("scene", "demo-downloader", limit=100, aoi=name), key=lambda lease: lease.id)
    no_link = Outcome.failed("URLImageProvider: unable to retrieve download link: scene metadata is empty")
    workflow.report_many(
        [(lease, no_link if i == n - 1 else Outcome.done()) for i, lease in enumerate(leases) if i != n - 2]
    )
    no_graph = Outcome.retry("LoadGraphFromFile: no such graph")
    tiles = workflow.claim("tile", "demo-processor", limit=100, aoi=name)
    workflow.report_many([(lease, no_graph if i % 2 else Outcome.done()) for i, lease in enumerate(tiles)])
    return DemoAOI(name, [s.id for s in workflow.scenes(name)], [t.id for t in workflow.tiles(name)])
