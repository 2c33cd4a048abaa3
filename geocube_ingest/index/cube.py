"""Reading the layers back as a cube: `open_cube(variable, instance, ...)` → xarray (time, y, x) of real values.

It loads the published STAC items with odc-stac (lazily, through Dask) and applies each
dataset's dformat mapping, so the values are the real ones the processing computed
(within the stored format's precision), and nodata is NaN. Items are found either in a
published collection (by AOI name or collection URL: no database needed) or through the
embedded index (records selected in SQL, their published items read).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import odc.stac
import pystac
import xarray as xr

from geocube_ingest import storage
from geocube_ingest.errors import InvalidInput, NotFound
from geocube_ingest.index.base import DFormat, Record, ValueMapping, utc
from geocube_ingest.index.embedded import EmbeddedIndex
from geocube_ingest.index.stac import FsspecStacIO, collection_href, read_items
from geocube_ingest.index.tables import StacItemRow
from geocube_ingest.settings import Settings, get_settings


def open_cube(
    variable: str,
    instance: str,
    *,
    records: Sequence[str | Record] | None = None,
    tags: Mapping[str, str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    crs: str | None = None,
    resolution: float | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    collection: str | None = None,
    index: EmbeddedIndex | None = None,
    chunks: Mapping[str, int] | None = None,
    settings: Settings | None = None,
) -> xr.DataArray:
    """The layer `variable`/`instance` of the selected records as a lazy DataArray (time, y, x).

    Select with `records` (ids or Records), `tags` (all must match) and/or `start`/`end`.
    `collection` is an AOI name or the URL of a collection.json; without it, the embedded
    index finds the published items. `crs`/`resolution` default to the files' own (when
    they share them); `bbox` is (min lon, min lat, max lon, max lat). Multi-band variables
    get a `band` dimension after `time`.
    """
    settings = settings or (index.settings if index is not None else get_settings())
    key = f"{variable}_{instance}"
    record_ids = {r.id if isinstance(r, Record) else str(r) for r in records} if records is not None else None
    items = _items(collection, index, record_ids, settings)
    items = _select(items, key, record_ids, tags, start, end)
    if not items:
        raise NotFound(f"no published item has the layer {key} for this selection")
    _configure_reads(items[0].assets[key].href, settings)
    groups = _by_mapping(items, key)
    band_count = len(items[0].assets[key].extra_fields.get("raster:bands") or [None])
    parts: list[xr.DataArray] = []
    geobox = None
    for mapping_, group in groups.items():
        raw = _load(group, key, band_count, crs, resolution, bbox, geobox, chunks)
        geobox = raw.odc.geobox
        parts.append(_to_real(raw, mapping_))
    cube = _combine(parts)
    cube.name = key
    first = items[0].assets[key].extra_fields
    cube.attrs = dict(  # the stored format's nodata no longer applies: missing values are NaN
        {
            "variable": variable,
            "instance": instance,
            "variable_dformat": first.get("geocube:variable_dformat", ""),
            "units": _unit(items[0], key),
        }
    )
    return cube


def _configure_reads(href: str, settings: Settings) -> None:
    """Give odc-stac's readers (rasterio) the endpoint and credentials of S3 or GCS storage."""
    protocol = storage.protocol_of(href)
    if protocol not in ("s3", "s3a", "gs", "gcs"):
        return
    env: dict[str, Any] = dict(storage.gdal_env(href, settings=settings))
    aws = storage.aws_session_options(env) if protocol in ("s3", "s3a") else None
    odc.stac.configure_rio(cloud_defaults=True, aws=aws, **env)


def _items(
    collection: str | None, index: EmbeddedIndex | None, record_ids: set[str] | None, settings: Settings
) -> list[pystac.Item]:
    if collection is not None:
        href = collection if collection.endswith(".json") else collection_href(collection, settings=settings)
        return read_items(href, settings)
    index = index or EmbeddedIndex(settings=settings)
    with index.session() as session:
        query = session.query(StacItemRow.href)
        if record_ids is not None:
            query = query.filter(StacItemRow.record_id.in_(sorted(record_ids)))
        hrefs = [href for (href,) in query.order_by(StacItemRow.time, StacItemRow.item_id)]
    io = FsspecStacIO(settings)
    return [pystac.Item.from_file(href, stac_io=io) for href in hrefs]


def _select(
    items: list[pystac.Item],
    key: str,
    record_ids: set[str] | None,
    tags: Mapping[str, str] | None,
    start: datetime | None,
    end: datetime | None,
) -> list[pystac.Item]:
    low = utc(start, "start") if start is not None else None
    high = utc(end, "end") if end is not None else None
    chosen = []
    for item in items:
        if key not in item.assets or item.datetime is None:
            continue
        if record_ids is not None and item.properties.get("geocube:record_id") not in record_ids:
            continue
        item_tags = item.properties.get("geocube:tags") or {}
        if tags and any(item_tags.get(k) != str(v) for k, v in tags.items()):
            continue
        if (low is not None and item.datetime < low) or (high is not None and item.datetime > high):
            continue
        chosen.append(item)
    return sorted(chosen, key=lambda i: (i.datetime, i.id))


def mapping_of(asset: pystac.Asset) -> ValueMapping:
    """The stored→real mapping an asset carries (our `geocube:*` fields)."""
    fields = asset.extra_fields
    try:
        return ValueMapping(
            DFormat.parse(fields["geocube:dformat"]),
            float(fields["geocube:real_min"]),
            float(fields["geocube:real_max"]),
            float(fields.get("geocube:exponent", 1.0)),
        )
    except KeyError as exc:
        raise InvalidInput(f"asset {asset.href} has no geocube mapping ({exc.args[0]} missing)") from None


def _by_mapping(items: list[pystac.Item], key: str) -> dict[ValueMapping, list[pystac.Item]]:
    groups: dict[ValueMapping, list[pystac.Item]] = defaultdict(list)
    for item in items:
        groups[_hashable(mapping_of(item.assets[key]))].append(item)
    return dict(groups)


def _hashable(mapping_: ValueMapping) -> ValueMapping:
    # NaN != NaN would put every item of a NaN-nodata format in its own group.
    fmt = mapping_.dformat
    if math.isnan(fmt.nodata):
        fmt = DFormat(fmt.dtype, float("inf"), fmt.min, fmt.max)
    return ValueMapping(fmt, mapping_.real_min, mapping_.real_max, mapping_.exponent)


def _load(
    items: list[pystac.Item],
    key: str,
    band_count: int,
    crs: str | None,
    resolution: float | None,
    bbox: tuple[float, float, float, float] | None,
    geobox: Any,
    chunks: Mapping[str, int] | None,
) -> xr.DataArray:
    bands = [key] if band_count == 1 else [f"{key}.{n}" for n in range(1, band_count + 1)]
    options: dict[str, Any] = {"chunks": dict(chunks or {}), "groupby": "time"}
    if geobox is not None:
        options["geobox"] = geobox
    else:
        if crs is not None:
            options["crs"] = crs
        if resolution is not None:
            options["resolution"] = resolution
        if bbox is not None:
            options["bbox"] = bbox
    try:
        data = odc.stac.load(items, bands=bands, **options)
    except ValueError as exc:
        raise InvalidInput(f"cannot load {key}: {exc} (give crs and resolution)") from None
    if band_count == 1:
        return data[key]
    stacked = xr.concat([data[b] for b in bands], dim="band")
    return stacked.assign_coords(band=np.arange(1, band_count + 1)).transpose("time", "band", ...)


def _to_real(raw: xr.DataArray, mapping_: ValueMapping) -> xr.DataArray:
    fmt = mapping_.dformat
    if math.isinf(fmt.nodata):  # restore the NaN swapped in by _hashable
        mapping_ = ValueMapping(
            DFormat(fmt.dtype, float("nan"), fmt.min, fmt.max), mapping_.real_min, mapping_.real_max, mapping_.exponent
        )
    real: xr.DataArray = mapping_.to_real(raw)
    dtype = (
        np.float32 if np.dtype(mapping_.dformat.dtype).itemsize <= 2 or mapping_.dformat.dtype == "float32" else None
    )
    return real.astype(dtype) if dtype is not None else real


def _combine(parts: list[xr.DataArray]) -> xr.DataArray:
    if len(parts) == 1:
        return parts[0]
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.combine_first(part)  # same time: first valid value wins (a mosaic)
    return merged.sortby("time")


def _unit(item: pystac.Item, key: str) -> str:
    bands = item.assets[key].extra_fields.get("raster:bands") or [{}]
    return str(bands[0].get("unit", ""))
