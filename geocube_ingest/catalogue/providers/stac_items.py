"""A STAC item as a scene: upstream's tags, whichever API (Earth Search, Planetary Computer, CDSE...) wrote it.

APIs spell the same facts differently (`s2:product_uri` vs the item id, `sat:relative_orbit`
vs the `R108` of the name, "SENTINEL-1A" vs "sentinel-1a"); the product name is the common
ground, the item's properties fill in what the name does not say.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from geocube_ingest.catalogue.dates import parse_datetime, rfc3339_micro
from geocube_ingest.catalogue.models import CatalogueScene
from geocube_ingest.catalogue.naming import NameInfo, landsat_product_id, name_info, strip_extension
from geocube_ingest.errors import InvalidInput
from geocube_ingest.payload import Constellation

CONSTELLATION_TAGS = {
    Constellation.SENTINEL1: "SENTINEL1",
    Constellation.SENTINEL2: "SENTINEL2",
    Constellation.LANDSAT89: "LANDSAT",
}
_INGESTION_KEYS = (
    "s2:generation_time",
    "s1:processing_datetime",
    "processing:datetime",
    "landsat:product_generated",
    "published",
    "created",
)


def _in_degrees(bounds: tuple[float, float, float, float]) -> bool:
    minx, miny, maxx, maxy = bounds
    return -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90


def item_footprint(item: dict[str, Any]) -> BaseGeometry:
    """The item's geometry, else its bbox; InvalidInput when neither is in longitude/latitude."""
    geometry = item.get("geometry")
    if geometry:
        try:
            footprint = shape(geometry)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"item {item.get('id')}: invalid geometry ({exc})") from None
        if not footprint.is_empty and _in_degrees(footprint.bounds):
            return footprint if footprint.is_valid else footprint.buffer(0)
    bbox = item.get("bbox")
    if bbox and len(bbox) in (4, 6):
        bounds = (bbox[0], bbox[1], bbox[2], bbox[3]) if len(bbox) == 4 else (bbox[0], bbox[1], bbox[3], bbox[4])
        if _in_degrees(bounds):
            return box(*bounds)
        raise InvalidInput(f"item {item.get('id')}: bbox {bbox} is not in longitude/latitude and there is no geometry")
    raise InvalidInput(f"item {item.get('id')}: no geometry and no bbox")


def item_constellation(item: dict[str, Any], info: NameInfo) -> Constellation | None:
    if info.constellation is not None:
        return info.constellation
    props = item.get("properties", {})
    text = f"{props.get('constellation', '')} {props.get('platform', '')}".lower().replace("_", "-")
    if "sentinel-1" in text or "sentinel 1" in text:
        return Constellation.SENTINEL1
    if "sentinel-2" in text or "sentinel 2" in text:
        return Constellation.SENTINEL2
    if re.search(r"landsat-?0?[89]", text):
        return Constellation.LANDSAT89
    return None


def _absolute_orbit(props: dict[str, Any], info: NameInfo) -> str:
    if props.get("sat:absolute_orbit") is not None:
        return str(props["sat:absolute_orbit"])
    if info.absolute_orbit:
        return info.absolute_orbit
    for key in ("s2:datatake_id", "eopf:datatake_id"):
        match = re.search(r"_(\d{6})_N", str(props.get(key, "")))
        if match:
            return str(int(match.group(1)))
    match = re.search(r"_A(\d{6})_", str(props.get("s2:granule_id", "")))
    return str(int(match.group(1))) if match else ""


def _satellite(props: dict[str, Any], info: NameInfo, constellation: Constellation) -> str:
    if info.satellite:
        return info.satellite
    platform = str(props.get("platform", "")).upper().replace("-", "").replace("_", "")
    if constellation == Constellation.LANDSAT89:
        match = re.search(r"(\d+)$", platform)
        return f"LANDSAT{int(match.group(1)):02d}" if match else ""
    return platform


def _ingestion_date(props: dict[str, Any], fallback: str) -> str:
    for key in _INGESTION_KEYS:
        if props.get(key):
            try:
                return rfc3339_micro(parse_datetime(props[key]))
            except ValueError:
                continue
    return fallback


def item_tags(item: dict[str, Any], source_id: str, info: NameInfo, constellation: Constellation) -> dict[str, str]:
    props = item.get("properties", {})
    date = parse_datetime(props.get("start_datetime") or props["datetime"])
    tags = {
        "sourceID": source_id,
        "uuid": str(item.get("id", source_id)),
        "constellation": CONSTELLATION_TAGS[constellation],
        "satellite": _satellite(props, info, constellation),
        "orbit": _absolute_orbit(props, info),
        "relativeOrbit": str(props.get("sat:relative_orbit", "") or info.relative_orbit),
        "orbitDirection": str(props.get("sat:orbit_state", "")).upper(),
        "productType": info.product_type
        or str(props.get("s2:product_type") or props.get("product:type") or props.get("sar:product_type") or ""),
        "ingestionDate": _ingestion_date(props, rfc3339_micro(date)),
    }
    if constellation == Constellation.SENTINEL1:
        pols = props.get("sar:polarizations")
        tags["polarisationMode"] = " ".join(str(p).upper() for p in pols) if pols else info.polarisations
        if props.get("s1:slice_number") is not None:
            tags["sliceNumber"] = str(props["s1:slice_number"])
    if props.get("eo:cloud_cover") is not None:
        tags["cloudCoverPercentage"] = str(props["eo:cloud_cover"])
    return tags


def _link(item: dict[str, Any], rel: str) -> str | None:
    return next((link.get("href") for link in item.get("links", []) if link.get("rel") == rel), None)


def item_metadata(item: dict[str, Any], provider: str, product_type: str) -> dict[str, Any]:
    assets = {name: asset.get("href") for name, asset in (item.get("assets") or {}).items() if asset.get("href")}
    metadata: dict[str, Any] = {"provider": provider, "collection": item.get("collection", ""), "assets": assets}
    if self_link := _link(item, "self"):
        metadata["stac_item"] = self_link
    download = _link(item, "enclosure") or assets.get("product")
    if download:
        metadata["download_link"] = download
    if product_type == "SLC":
        # Per-swath product annotations (CDSE's sentinel-1-slc "schema-product-iw1-vv"...): enough for bursts.
        annotations = [href for name, href in sorted(assets.items()) if name.startswith("schema-product-")]
        if annotations:
            metadata["annotations"] = annotations
    return metadata


def _landsat_evidence(item: dict[str, Any]) -> Iterator[str]:
    """Texts of an item that may spell its full Landsat product id, most direct first (read lazily).

    Planetary Computer items have it only in their asset hrefs and `via` links; Earth Search
    items also in `earthsearch:payload_id` and as `landsat:product_generated` (the
    processing date).
    """
    props = item.get("properties") or {}
    yield from (str(props[key]) for key in ("landsat:product_id", "earthsearch:payload_id") if props.get(key))
    yield from (str(asset.get("href", "")) for asset in (item.get("assets") or {}).values() if isinstance(asset, dict))
    yield from (str(link.get("href", "")) for link in item.get("links") or [] if isinstance(link, dict))
    generated = str(props.get("landsat:product_generated", ""))
    if re.match(r"\d{4}-\d{2}-\d{2}", generated):
        processed = generated[:10].replace("-", "")
        yield re.sub(r"^(L[COTEM]\d{2}_L[12][A-Z]{2}_\d{6}_\d{8})_", rf"\1_{processed}_", str(item.get("id", "")))


def source_id_of(item: dict[str, Any]) -> str:
    """The product name a scene is known by, whichever catalogue's item it comes from."""
    props = item.get("properties") or {}
    raw = props.get("s2:product_uri") or props.get("s1:product_identifier") or item.get("id")
    if not raw:
        raise InvalidInput("an item has no id")
    return landsat_product_id(strip_extension(str(raw)), _landsat_evidence(item))


def scene_from_item(item: dict[str, Any], provider: str) -> tuple[CatalogueScene, Constellation | None]:
    """The scene and its constellation; InvalidInput when the item cannot be placed or dated."""
    props = item.get("properties") or {}
    if not props.get("datetime") and not props.get("start_datetime"):
        raise InvalidInput(f"item {item.get('id')}: no datetime")
    source_id = source_id_of(item)
    info = name_info(source_id)
    constellation = item_constellation(item, info)
    footprint = item_footprint(item)
    try:
        date = parse_datetime(props.get("start_datetime") or props["datetime"])
    except ValueError as exc:
        raise InvalidInput(f"item {item.get('id')}: {exc}") from None
    if constellation is None:
        return CatalogueScene(source_id=source_id, date=date, footprint=footprint), None
    tags = item_tags(item, source_id, info, constellation)
    scene = CatalogueScene(
        source_id=source_id,
        date=date,
        footprint=footprint,
        uuid=str(item.get("id", source_id)),
        tags=tags,
        metadata=item_metadata(item, provider, tags["productType"]),
    )
    return scene, constellation
