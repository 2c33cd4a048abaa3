"""Publishing what is indexed as STAC: one Collection per AOI, one Item per record, on the storage.

Layout, under the AOI's storage folder (`<storage_uri>/<aoi>/`, next to the outputs):
    <stac_dir>/collection.json         links to every item (relative)
    <stac_dir>/items/<item id>.json     one per record (per tile folder when a record has several)
Asset hrefs are the indexed files' URIs; each asset is named `<variable>_<instance>` and
carries, through pystac's extension classes, the projection (`proj:code`, shape, transform,
bbox), the raster bands (nodata, data type, and `scale`/`offset` when the dformat mapping
is linear), the EO bands when the layer is an optical band, and the full mapping as
`geocube:*` fields, so odc-stac/stackstac can load it and `open_cube` can give real values
back. A record whose layers come from several files of one instance (the bursts of a
Sentinel-1 scene) gets one item per tile folder.

Which items exist is kept in the index database (`index_stac_item`), so publishing some
records rewrites only their items and the collection, and removes items that no longer
exist. Optionally every item is pushed to a STAC API with the transactions extension.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import numpy as np
import pystac
import shapely
from pystac.extensions.eo import Band, EOExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, NoDataStrings, RasterBand, RasterExtension
from pystac.stac_io import DefaultStacIO
from shapely.geometry import mapping
from sqlalchemy import delete, select

from geocube_ingest import database, storage
from geocube_ingest.errors import InvalidInput, NotFound
from geocube_ingest.index.base import IndexedDataset, Instance, Record, Variable, check_name
from geocube_ingest.index.embedded import EmbeddedIndex
from geocube_ingest.index.rasters import epsg_of
from geocube_ingest.index.tables import StacItemRow
from geocube_ingest.retry import RetryPolicy
from geocube_ingest.settings import Settings, get_settings

log = logging.getLogger(__name__)

# Bands of the optical sensors the catalogue serves: (record tag `constellation`, band name) →
# (EO common name, centre wavelength in µm), as the catalogues' own STAC items give them.
SENSOR_BANDS: dict[tuple[str, str], tuple[str, float]] = {
    ("SENTINEL2", "B01"): ("coastal", 0.443),
    ("SENTINEL2", "B02"): ("blue", 0.49),
    ("SENTINEL2", "B03"): ("green", 0.56),
    ("SENTINEL2", "B04"): ("red", 0.665),
    ("SENTINEL2", "B05"): ("rededge", 0.704),
    ("SENTINEL2", "B06"): ("rededge", 0.74),
    ("SENTINEL2", "B07"): ("rededge", 0.783),
    ("SENTINEL2", "B08"): ("nir", 0.842),
    ("SENTINEL2", "B8A"): ("nir08", 0.865),
    ("SENTINEL2", "B09"): ("nir09", 0.945),
    ("SENTINEL2", "B10"): ("cirrus", 1.375),
    ("SENTINEL2", "B11"): ("swir16", 1.61),
    ("SENTINEL2", "B12"): ("swir22", 2.19),
    ("LANDSAT", "B1"): ("coastal", 0.44),
    ("LANDSAT", "B2"): ("blue", 0.48),
    ("LANDSAT", "B3"): ("green", 0.56),
    ("LANDSAT", "B4"): ("red", 0.65),
    ("LANDSAT", "B5"): ("nir08", 0.87),
    ("LANDSAT", "B6"): ("swir16", 1.61),
    ("LANDSAT", "B7"): ("swir22", 2.2),
    ("LANDSAT", "B8"): ("pan", 0.59),
    ("LANDSAT", "B9"): ("cirrus", 1.37),
    ("LANDSAT", "B10"): ("lwir11", 10.9),
    ("LANDSAT", "B11"): ("lwir12", 12.0),
}
WORLD = [-180.0, -90.0, 180.0, 90.0]  # the extent of a collection without items
# Record tags (upstream's names, several spellings) giving eo:cloud_cover
CLOUD_TAGS = ("cloudCoverPercentage", "cloudcoverpercentage", "cloud_cover", "eo:cloud_cover")
_ITEM_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_\-.:]")


@dataclass(frozen=True, slots=True)
class Layer:
    """What an asset is: the instance and its variable."""

    variable: Variable
    instance: Instance

    @property
    def key(self) -> str:
        return f"{self.variable.name}_{self.instance.name}"


@dataclass(slots=True)
class PublishResult:
    collection: str  # href of collection.json
    items: list[str] = field(default_factory=list)  # hrefs written
    removed: list[str] = field(default_factory=list)  # hrefs of items that no longer exist
    pushed: int = 0  # items sent to the STAC API


class FsspecStacIO(DefaultStacIO):
    """pystac I/O through our storage layer (local, s3://, gs://, http(s)://), settings' credentials."""

    def __init__(self, settings: Settings | None = None):
        super().__init__()
        self.settings = settings or get_settings()

    def read_text(self, source: Any, *args: Any, **kwargs: Any) -> str:
        href = str(source if isinstance(source, str) else source.get_absolute_href() or source.href)
        try:
            with storage.open(href, "rb", settings=self.settings) as handle:
                return str(handle.read().decode("utf-8"))
        except (FileNotFoundError, NotFound):
            raise NotFound(f"no STAC document at {href}") from None

    def write_text(self, dest: Any, txt: str, *args: Any, **kwargs: Any) -> None:
        href = str(dest if isinstance(dest, str) else dest.get_absolute_href() or dest.href)
        storage.put_bytes(txt.encode("utf-8"), href, settings=self.settings)


def aoi_root(aoi: str, storage_uri: str | None = None, settings: Settings | None = None) -> str:
    """The AOI's storage folder (where its tiles' layers are written); FatalError outside the allowed roots."""
    settings = settings or get_settings()
    root = storage.resolve_storage_uri({"storage_uri": storage_uri}, settings=settings)
    return storage.join(root, check_name(aoi, "AOI name"))


def collection_href(aoi: str, storage_uri: str | None = None, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return storage.join(aoi_root(aoi, storage_uri, settings), settings.index.stac_dir, "collection.json")


def publish_collection(
    index: EmbeddedIndex,
    aoi: str,
    *,
    storage_uri: str | None = None,
    record_ids: Sequence[str] | None = None,
    settings: Settings | None = None,
    push: bool | None = None,
) -> PublishResult:
    """Write (or update) the STAC items of the AOI's indexed records and its collection.

    `record_ids` limits the work to those records (the collection still lists every item);
    `push` sends the written items to `settings.index.stac_api_url` (default: when configured).
    """
    settings = settings or index.settings
    root = aoi_root(aoi, storage_uri, settings)
    stac_root = storage.join(root, settings.index.stac_dir)
    datasets = index.datasets(uri_prefix=root, record_ids=record_ids)
    by_record: dict[str, list[IndexedDataset]] = defaultdict(list)
    for dataset in datasets:
        by_record[dataset.record_id].append(dataset)
    records = {r.id: r for r in index.find_records(ids=list(by_record))} if by_record else {}
    layers = _layers(index, {d.instance_id for d in datasets})

    taken = _taken_item_ids(index, aoi, exclude_records=set(by_record))
    built: list[tuple[Record, str, pystac.Item]] = []
    for record_id in sorted(by_record, key=lambda r: (records[r].time, records[r].name)):
        record = records[record_id]
        for item_id, group in _item_groups(record, by_record[record_id], taken):
            taken.add(item_id)
            built.append((record, item_id, build_item(record, item_id, group, layers, aoi)))

    result = PublishResult(collection=storage.join(stac_root, "collection.json"))
    parent = new_collection(aoi, result.collection)
    rows: list[StacItemRow] = []
    for record, item_id, item in built:
        href = storage.join(stac_root, "items", f"{item_id}.json")
        _attach(item, href, parent)
        storage.put_bytes(_dumps(item.to_dict(include_self_link=False)), href, settings=settings)
        result.items.append(href)
        rows.append(
            StacItemRow(
                collection=aoi,
                item_id=item_id,
                record_id=record.id,
                href=href,
                bbox=list(item.bbox or []),
                time=record.time,
                assets=sorted(item.assets),
                updated_at=database.utcnow(),
            )
        )
    result.removed = _replace_rows(index, aoi, set(by_record) if record_ids is None else set(record_ids), rows)
    for href in result.removed:
        storage.delete(href, settings=settings)

    collection = describe_collection(index, parent).to_dict(include_self_link=False)
    storage.put_bytes(_dumps(collection), result.collection, settings=settings)
    if push if push is not None else bool(settings.index.stac_api_url):
        gone = [storage.basename(href).removesuffix(".json") for href in result.removed]
        result.pushed = push_to_api(collection, [item for _, _, item in built], settings=settings, removed=gone)
    log.info("published %d STAC item(s) of %s (%d removed)", len(result.items), aoi, len(result.removed))
    return result


def has_items(index: EmbeddedIndex, aoi: str) -> bool:
    """Whether the AOI's collection was published (it has items)."""
    with index.session() as session:
        return session.scalar(select(StacItemRow.id).where(StacItemRow.collection == aoi).limit(1)) is not None


def _layers(index: EmbeddedIndex, instance_ids: set[str]) -> dict[str, Layer]:
    layers: dict[str, Layer] = {}
    for instance_id in sorted(instance_ids):
        variable, instance = index.variable_of_instance(instance_id)
        layers[instance_id] = Layer(variable, instance)
    return layers


def _taken_item_ids(index: EmbeddedIndex, aoi: str, exclude_records: set[str]) -> set[str]:
    with index.session() as session:
        rows = session.execute(
            select(StacItemRow.item_id, StacItemRow.record_id).where(StacItemRow.collection == aoi)
        ).all()
    return {item_id for item_id, record_id in rows if record_id not in exclude_records}


def _safe_id(text: str) -> str:
    return _ITEM_ID_UNSAFE.sub("_", text)


def _item_groups(
    record: Record, datasets: list[IndexedDataset], taken: set[str]
) -> list[tuple[str, list[IndexedDataset]]]:
    """The record's items: one, unless an instance has several files (then one per file folder)."""
    by_folder: dict[str, list[IndexedDataset]] = defaultdict(list)
    for dataset in datasets:
        by_folder[dataset.uri.rsplit("/", 1)[0]].append(dataset)
    counts: dict[str, int] = defaultdict(int)
    for dataset in datasets:
        counts[dataset.instance_id] += 1
    if max(counts.values()) == 1:
        groups = [(_safe_id(record.name), datasets)]
    else:
        groups = []
        for folder in sorted(by_folder):
            folder_name = storage.basename(folder)
            suffix = folder_name if folder_name and folder_name != record.name else str(len(groups) + 1)
            for part, chunk in enumerate(_split_duplicates(by_folder[folder])):
                name = f"{record.name}_{suffix}" + (f"_{part + 1}" if part else "")
                groups.append((_safe_id(name), chunk))
    unique: list[tuple[str, list[IndexedDataset]]] = []
    for item_id, group in groups:
        candidate = item_id
        if candidate in taken:  # another record has that name (records differ by time or tags)
            candidate = f"{item_id}_{record.id[:8]}"
        unique.append((candidate, group))
    return unique


def _split_duplicates(datasets: list[IndexedDataset]) -> list[list[IndexedDataset]]:
    """Spread datasets so no part holds two files of the same instance."""
    parts: list[list[IndexedDataset]] = []
    for dataset in sorted(datasets, key=lambda d: d.uri):
        for part in parts:
            if all(d.instance_id != dataset.instance_id for d in part):
                part.append(dataset)
                break
        else:
            parts.append([dataset])
    return parts


def build_item(
    record: Record, item_id: str, datasets: list[IndexedDataset], layers: dict[str, Layer], collection: str
) -> pystac.Item:
    footprint = shapely.unary_union([d.footprint for d in datasets])
    item = pystac.Item(
        id=item_id,
        geometry=mapping(footprint),
        bbox=[float(v) for v in footprint.bounds],
        datetime=record.time,
        properties={
            "geocube:record_id": record.id,
            "geocube:record_name": record.name,
            "geocube:tags": dict(sorted(record.tags.items())),
        },
        collection=collection,
    )
    common = item.common_metadata
    common.constellation = record.tags.get("constellation", "").lower() or None
    common.platform = record.tags.get("satellite", "").lower() or None
    cloud = _cloud_cover(record.tags)
    if cloud is not None:
        EOExtension.ext(item, add_if_missing=True).cloud_cover = cloud
    sensor = record.tags.get("constellation", "").upper()
    for dataset in sorted(datasets, key=lambda d: layers[d.instance_id].key):
        layer = layers[dataset.instance_id]
        asset = pystac.Asset(
            href=dataset.uri,
            media_type=pystac.MediaType.COG,
            roles=["data"],
            title=f"{layer.variable.name} ({layer.instance.name})",
            extra_fields=_geocube_fields(dataset, layer),
        )
        item.add_asset(layer.key, asset)  # owned by the item: the extensions below declare their schemas on it
        _project(asset, dataset)
        RasterExtension.ext(asset, add_if_missing=True).apply(_raster_bands(dataset, layer))
        eo_bands = _eo_bands(layer, len(dataset.bands), sensor)
        if eo_bands:
            EOExtension.ext(asset, add_if_missing=True).bands = eo_bands
    return item


def _project(asset: pystac.Asset, dataset: IndexedDataset) -> None:
    epsg = epsg_of(dataset.crs)
    a, b, c, d, e, f = dataset.transform
    height, width = dataset.shape
    xs, ys = (c, c + a * width + b * height), (f, f + d * width + e * height)
    ProjectionExtension.ext(asset, add_if_missing=True).apply(
        epsg=epsg,
        wkt2=None if epsg else dataset.crs,
        shape=[height, width],
        transform=[a, b, c, d, e, f],
        bbox=[min(xs), min(ys), max(xs), max(ys)],
    )
    if epsg:
        asset.extra_fields["proj:epsg"] = epsg  # dropped by projection v2, still what stackstac 0.5 reads


def _raster_bands(dataset: IndexedDataset, layer: Layer) -> list[RasterBand]:
    mapping_ = dataset.mapping
    fmt = mapping_.dformat
    names = layer.variable.bands
    bands = []
    for position in range(len(dataset.bands)):
        band = RasterBand.create(
            nodata=NoDataStrings.NAN if math.isnan(fmt.nodata) else _number(fmt.nodata),
            data_type=_data_type(fmt.numpy_dtype),
            scale=mapping_.scale if mapping_.is_linear else None,
            offset=mapping_.offset if mapping_.is_linear else None,
            unit=layer.variable.unit or None,
        )
        if position < len(names) and names[position]:
            band.properties["name"] = names[position]  # raster v1.1 has no field for it: an extra one
        bands.append(band)
    return bands


def _data_type(dtype: np.dtype[Any]) -> DataType:
    name = f"cfloat{dtype.itemsize * 4}" if dtype.kind == "c" else dtype.name
    try:
        return DataType(name)
    except ValueError:
        return DataType.OTHER


def _eo_bands(layer: Layer, count: int, sensor: str) -> list[Band]:
    """EO bands when every band of the layer names one of the record's sensor or a common name.

    The names tried are the operator's: the variable's band names, else (one band) its
    instance name or the last word of its name, as in "Reflectance"/"B04" or "S2/B8A".
    """
    names = list(layer.variable.bands[:count])
    if count == 1 and not any(names):
        names = [layer.instance.name, layer.variable.name.rsplit("/", 1)[-1]]
    bands = []
    for position in range(count):
        candidates = names[position : position + 1] if count > 1 else names
        band = next(filter(None, (_eo_band(name, sensor) for name in candidates if name)), None)
        if band is None:
            return []
        bands.append(band)
    return bands


def _eo_band(name: str, sensor: str) -> Band | None:
    if (sensor, name.upper()) in SENSOR_BANDS:
        common, centre = SENSOR_BANDS[(sensor, name.upper())]
        return Band.create(name=name.upper(), common_name=common, center_wavelength=centre)
    if Band.band_range(name.lower()) is not None:
        return Band.create(name=name, common_name=name.lower(), description=Band.band_description(name.lower()))
    return None


def _geocube_fields(dataset: IndexedDataset, layer: Layer) -> dict[str, Any]:
    """The full stored → real mapping (also when not linear) and what the asset is, for `open_cube`."""
    mapping_ = dataset.mapping
    return {
        "geocube:variable": layer.variable.name,
        "geocube:instance": layer.instance.name,
        "geocube:instance_id": layer.instance.id,
        "geocube:dformat": str(mapping_.dformat),
        "geocube:real_min": mapping_.real_min,
        "geocube:real_max": mapping_.real_max,
        "geocube:exponent": mapping_.exponent,
        "geocube:bands": list(dataset.bands),
        "geocube:variable_dformat": str(layer.variable.dformat),
    }


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _cloud_cover(tags: dict[str, str]) -> float | None:
    for name in CLOUD_TAGS:
        if name in tags:
            try:
                value = float(tags[name])
            except ValueError:
                return None
            return value if 0 <= value <= 100 else None
    return None


def _attach(item: pystac.Item, href: str, parent: pystac.Collection) -> None:
    """Place the item at `href` under its collection: pystac writes the links relative to it."""
    item.set_self_href(href)
    item.set_collection(parent)
    item.set_parent(parent)
    item.set_root(parent)


def _replace_rows(index: EmbeddedIndex, aoi: str, records: set[str], rows: list[StacItemRow]) -> list[str]:
    """Store the items now published for `records`; the hrefs of their items that are gone."""
    new_hrefs = {row.href for row in rows}
    with index.session() as session:
        old = session.scalars(
            select(StacItemRow).where(StacItemRow.collection == aoi, StacItemRow.record_id.in_(sorted(records)))
        ).all()
        removed = sorted({row.href for row in old} - new_hrefs)
        session.execute(
            delete(StacItemRow).where(StacItemRow.collection == aoi, StacItemRow.record_id.in_(sorted(records)))
        )
        session.flush()
        session.add_all(rows)
    return removed


def new_collection(aoi: str, href: str) -> pystac.Collection:
    """The AOI's collection at `href`, self-contained (relative links), not yet describing its items."""
    collection = pystac.Collection(
        id=aoi,
        title=aoi,
        description=f"Layers of the AOI {aoi}, processed and indexed by geocube-ingest.",
        license="other",
        extent=pystac.Extent(pystac.SpatialExtent([WORLD]), pystac.TemporalExtent([None, None])),
        catalog_type=pystac.CatalogType.SELF_CONTAINED,
    )
    collection.set_self_href(href)
    return collection


def describe_collection(index: EmbeddedIndex, collection: pystac.Collection) -> pystac.Collection:
    """Extent, item links and item assets of the collection, from every item published for its AOI."""
    with index.session() as session:
        rows = session.scalars(
            select(StacItemRow)
            .where(StacItemRow.collection == collection.id)
            .order_by(StacItemRow.time, StacItemRow.item_id)
        ).all()
        items = [(row.href, list(row.bbox), row.time, list(row.assets)) for row in rows]
    boxes = [shapely.box(*b) for _, b, _, _ in items if len(b) == 4]
    bbox = [float(v) for v in shapely.total_bounds(boxes)] if boxes else WORLD
    times = [time for _, _, time, _ in items]
    interval: list[datetime | None] = [min(times), max(times)] if times else [None, None]
    collection.extent = pystac.Extent(pystac.SpatialExtent([bbox]), pystac.TemporalExtent([interval]))
    collection.clear_links(pystac.RelType.ITEM)
    collection.add_links([pystac.Link(pystac.RelType.ITEM, href, pystac.MediaType.GEOJSON) for href, _, _, _ in items])
    keys = {key for _, _, _, assets in items for key in assets}
    collection.item_assets = {
        layer.key: pystac.ItemAssetDefinition.create(
            title=f"{layer.variable.name} ({layer.instance.name})",
            description=layer.variable.description or None,
            media_type=pystac.MediaType.COG,
            roles=["data"],
        )
        for layer in _all_layers(index)
        if layer.key in keys
    }
    return collection


def _all_layers(index: EmbeddedIndex) -> list[Layer]:
    return [Layer(variable, instance) for variable in index.list_variables() for instance in variable.instances]


def _dumps(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")


# -- STAC API (transactions extension) ----------------------------------------------------------


def push_to_api(
    collection: dict[str, Any],
    items: Sequence[pystac.Item],
    *,
    settings: Settings | None = None,
    client: httpx.Client | None = None,
    removed: Sequence[str] = (),
) -> int:
    """Create or update the collection and items on `settings.index.stac_api_url`, and delete the items
    `removed` (ids of items no longer published); how many items were sent.

    POST creates; a 409 (it exists) is followed by a PUT that replaces it, so pushing twice
    is harmless. Requests follow the shared retry policy (429/5xx after Retry-After, cut
    connections); what is left of them, a silent or unreachable API, is temporary; other
    refusals are input errors.
    """
    settings = settings or get_settings()
    base = settings.index.stac_api_url
    if not base:
        raise InvalidInput("no STAC API configured (settings.index.stac_api_url)")
    headers = {"Content-Type": "application/json"}
    if settings.index.stac_api_token is not None:
        headers["Authorization"] = f"Bearer {settings.index.stac_api_token.get_secret_value()}"
    own = client is None
    http = client or httpx.Client(base_url=base.rstrip("/"), timeout=settings.index.stac_api_timeout_seconds)
    api = _StacApi(http, headers, RetryPolicy.for_stac_api(settings))
    try:
        body = {**collection, "links": []}
        api.upsert("/collections", f"/collections/{collection['id']}", body)
        for item in items:
            document = item.to_dict(include_self_link=False, transform_hrefs=False)
            document["links"] = []
            path = f"/collections/{collection['id']}/items"
            api.upsert(path, f"{path}/{item.id}", document)
        for item_id in removed:
            api.delete(f"/collections/{collection['id']}/items/{item_id}")
        return len(items)
    finally:
        if own:
            http.close()


@dataclass(frozen=True, slots=True)
class _StacApi:
    http: httpx.Client
    headers: dict[str, str]
    policy: RetryPolicy

    def upsert(self, create: str, replace: str, body: dict[str, Any]) -> None:
        response = self.send("POST", create, body)
        if response.status_code == 409:
            response = self.send("PUT", replace, body)
        if response.status_code >= 400:
            raise InvalidInput(
                f"STAC API refused {body.get('id')!r}: HTTP {response.status_code} {response.text[:200]}"
            )

    def delete(self, path: str) -> None:
        response = self.send("DELETE", path, None)
        if response.status_code >= 400 and response.status_code != 404:  # gone already is fine
            raise InvalidInput(f"STAC API refused to delete {path}: HTTP {response.status_code} {response.text[:200]}")

    def send(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        return self.policy.send(
            f"STAC API {method} {path}", lambda: self.http.request(method, path, json=body, headers=self.headers)
        )


def read_items(href: str, settings: Settings | None = None) -> list[pystac.Item]:
    """Every item of a published collection (local or remote)."""
    collection = pystac.Collection.from_file(href, stac_io=FsspecStacIO(settings))
    return list(collection.get_items(recursive=False))
