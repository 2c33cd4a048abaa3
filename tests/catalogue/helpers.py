"""Scenes for the tile tests: synthetic Sentinel-2 scenes, and real Sentinel-1 products repeated 12 days later."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from shapely.geometry import box

from geocube_ingest.catalogue.models import CatalogueScene
from geocube_ingest.payload import Payload

S1_NAME = "S1A_IW_SLC__1SDV_20200511T135117_20200511T135144_032518_03C421_7768"
REPEAT_DAYS = 12  # one Sentinel-1 cycle: 175 orbits
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?")


S2_DEMO: dict[str, Any] = {  # the S2 area of the tutorial, as a client sends it
    "type": "Feature",
    "name": "DenmarkDemoS2",
    "geometry": {
        "type": "Polygon",
        "coordinates": [[[-105.3, 39.9], [-105.0, 39.9], [-105.0, 40.3], [-105.3, 40.3], [-105.3, 39.9]]],
    },
    "start_time": "2024-03-30T00:00:00Z",
    "end_time": "2024-04-25T00:00:00Z",
    "scene_type": {"constellation": "sentinel2", "parameters": {"producttype": "L2A"}},
    "scene_graph_name": "CopyProductToStorage",
    "tile_graph_name": "Pass",
    "graph_config": {},
    "record_tags": {"area": "Denmark", "provider": "geocube-ingester", "source": "tutorial"},
    "is_retriable": True,
}


def s2_scene(when: datetime, tile: str = "T13TDE") -> CatalogueScene:
    stamp = f"{when:%Y%m%dT%H%M%S}"
    name = f"S2A_MSIL2A_{stamp}_N0510_R141_{tile}_{stamp}"
    return CatalogueScene(
        name,
        when,
        box(-106, 39.6, -104.8, 40.6),
        uuid=name,
        tags={"sourceID": name, "productType": "S2MSI2A", "constellation": "SENTINEL2"},
    )


def area_payload(
    *, scene_graph_name: str = "CopyProductToStorage", tile_graph_name: str = "Pass", **fields: Any
) -> Payload:
    """A payload of the catalogue tests: an area, a window and a scene type; graphs that only copy by default."""
    return Payload.parse({"scene_graph_name": scene_graph_name, "tile_graph_name": tile_graph_name, **fields})


s2_payload = partial(
    area_payload,
    name="Front-Range",
    wkt="POLYGON ((-105.3 39.9, -105 39.9, -105 40.3, -105.3 40.3, -105.3 39.9))",
    start_time="2023-01-01T00:00:00Z",
    end_time="2025-01-01T00:00:00Z",
    scene_type={"constellation": "sentinel2", "parameters": {"producttype": "L2A"}},
    is_retriable=True,
)


def _shift_text(text: str, cycles: int) -> str:
    def shift(match: re.Match[str]) -> str:
        value = match.group(0)
        whole, _, fraction = value.partition(".")
        moved = datetime.fromisoformat(whole) + timedelta(days=REPEAT_DAYS * cycles)
        return moved.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "")

    text = _TIMESTAMP.sub(shift, text)
    text = re.sub(
        r"<absoluteOrbitNumber>(\d+)</absoluteOrbitNumber>",
        lambda m: f"<absoluteOrbitNumber>{int(m.group(1)) + 175 * cycles}</absoluteOrbitNumber>",
        text,
    )
    return re.sub(
        r'(<safe:orbitNumber type="(?:start|stop)">)(\d+)(</safe:orbitNumber>)',
        lambda m: f"{m.group(1)}{int(m.group(2)) + 175 * cycles}{m.group(3)}",
        text,
    )


def repeat_pass(source: Path, target_dir: Path, cycles: int) -> CatalogueScene:
    """The same product `cycles` x 12 days later (same track, same bursts), as a SAFE folder under `target_dir`."""
    start = datetime(2020, 5, 11, 13, 51, 17, tzinfo=UTC) + timedelta(days=REPEAT_DAYS * cycles)
    stop = start + timedelta(seconds=27)
    orbit = 32518 + 175 * cycles
    name = f"S1A_IW_SLC__1SDV_{start:%Y%m%dT%H%M%S}_{stop:%Y%m%dT%H%M%S}_{orbit:06d}_03C421_{0x7768 + cycles:04X}"
    safe = target_dir / f"{name}.SAFE"
    for path in source.rglob("*"):
        if path.is_file():
            destination = safe / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_text(_shift_text(path.read_text(), cycles))
    footprint = box(-118.5, 37.1, -115.2, 39.2)
    tags = {"sourceID": name, "relativeOrbit": "71", "orbit": str(orbit), "productType": "SLC"}
    return CatalogueScene(name, start, footprint, uuid=name, tags=tags)


_s1_payload = partial(
    area_payload,
    name="Nevada",
    # Over the middle of the product: a few bursts of each swath.
    wkt="POLYGON ((-117.2 38.0, -116.6 38.0, -116.6 38.3, -117.2 38.3, -117.2 38.0))",
    start_time="2020-01-01T00:00:00Z",
    end_time="2021-01-01T00:00:00Z",
    scene_type={"constellation": "sentinel1"},
    scene_graph_name="S1Preprocessing",
    tile_graph_name="S1BackscatterCoherence",
)


def s1_payload(annotations: str, **changes: Any) -> Payload:
    return _s1_payload(**{"annotations_urls": [annotations], **changes})
