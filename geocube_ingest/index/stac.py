"""Publishing what is indexed as STAC: one Collection per AOI, one Item per record, on the storage.

Layout, under the AOI's storage folder (`<storage_uri>/<aoi>/`, next to the outputs):
    <stac_dir>/collection.json         links to every item (relative)
    <stac_dir>/items/<item id>.json     one per record (per tile folder when a record has several)
Asset hrefs are the indexed files' URIs; each asset is named `<variable>_<instance>` and
carries the projection (`proj:code` and `proj:epsg`, shape, transform), the raster bands
(nodata, data type, and `scale`/`offset` when the dformat mapping is linear) and the full
mapping as `geocube:*` fields, so odc-stac/stackstac can load it and `open_cube` can give
real values back. A record whose layers come from several files of one instance (the
bursts of a Sentinel-1 scene) gets one item per tile folder.

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
import pystac
import shapely
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

PROJECTION = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
RASTER = "https://stac-extensions.github.io/raster/v1.1.0/schema.json"
EO = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
COG = "image/tiff; application=geotiff; profile=cloud-optimized"
# numpy dtype → STAC raster data_type
RASTER_TYPES = {
    "int8": "int8",
    "int16": "int16",
    "int32": "int32",
    "int64": "int64",
    "uint8": "uint8",
    "uint16": "uint16",
    "uint32": "uint32",
    "uint64": "uint64",
    "float16": "float16",
    "float32": "float32",
    "float64": "float64",
    "complex64": "cfloat32",
    "complex128": "cfloat64",
}
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
    """The AOI's storage folder (where its tiles' layers are written)."""
    settings = settings or get_settings()
    return storage.join(storage_uri or settings.resolved_storage_uri, check_name(aoi, "AOI name"))


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
    rows: list[StacItemRow] = []
    for record, item_id, item in built:
        href = storage.join(stac_root, "items", f"{item_id}.json")
        document = item.to_dict(include_self_link=False, transform_hrefs=False)
        document["links"] = _item_links()
        storage.put_bytes(_dumps(document), href, settings=settings)
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

    collection = build_collection(index, aoi)
    storage.put_bytes(_dumps(collection), result.collection, settings=settings)
    if push if push is not None else bool(settings.index.stac_api_url):
        result.pushed = push_to_api(collection, [item for _, _, item in built], settings=settings)
    log.info("published %d STAC item(s) of %s (%d removed)", len(result.items), aoi, len(result.removed))
    return result


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
    properties: dict[str, Any] = {
        "geocube:record_id": record.id,
        "geocube:record_name": record.name,
        "geocube:tags": dict(sorted(record.tags.items())),
    }
    extensions = [PROJECTION, RASTER]
    cloud = _cloud_cover(record.tags)
    if cloud is not None:
        properties["eo:cloud_cover"] = cloud
        extensions.append(EO)
    for tag, name in (("constellation", "constellation"), ("satellite", "platform")):
        if record.tags.get(tag):
            properties[name] = record.tags[tag].lower()
    item = pystac.Item(
        id=item_id,
        geometry=mapping(footprint),
        bbox=[float(v) for v in footprint.bounds],
        datetime=record.time,
        properties=properties,
        stac_extensions=extensions,
        collection=collection,
    )
    for dataset in sorted(datasets, key=lambda d: layers[d.instance_id].key):
        layer = layers[dataset.instance_id]
        item.add_asset(layer.key, _asset(dataset, layer))
    return item


def _asset(dataset: IndexedDataset, layer: Layer) -> pystac.Asset:
    mapping_ = dataset.mapping
    fmt = mapping_.dformat
    epsg = epsg_of(dataset.crs)
    a, b, c, d, e, f = dataset.transform
    height, width = dataset.shape
    xs, ys = (c, c + a * width + b * height), (f, f + d * width + e * height)
    fields: dict[str, Any] = {
        "proj:code": f"EPSG:{epsg}" if epsg else None,
        "proj:shape": [height, width],
        "proj:transform": [a, b, c, d, e, f],
        "proj:bbox": [min(xs), min(ys), max(xs), max(ys)],
    }
    if epsg:
        fields["proj:epsg"] = epsg  # deprecated by projection v2, still what stackstac reads
    else:
        fields["proj:wkt2"] = dataset.crs
    bands = []
    for position, _band in enumerate(dataset.bands):
        band: dict[str, Any] = {
            "nodata": "nan" if math.isnan(fmt.nodata) else _number(fmt.nodata),
            "data_type": RASTER_TYPES.get(fmt.numpy_dtype.name, "other"),
        }
        if mapping_.is_linear:
            band["scale"] = mapping_.scale
            band["offset"] = mapping_.offset
        if layer.variable.unit:
            band["unit"] = layer.variable.unit
        names = layer.variable.bands
        if position < len(names) and names[position]:
            band["name"] = names[position]
        bands.append(band)
    fields["raster:bands"] = bands
    fields.update(
        {
            "geocube:variable": layer.variable.name,
            "geocube:instance": layer.instance.name,
            "geocube:instance_id": layer.instance.id,
            "geocube:dformat": str(fmt),
            "geocube:real_min": mapping_.real_min,
            "geocube:real_max": mapping_.real_max,
            "geocube:exponent": mapping_.exponent,
            "geocube:bands": list(dataset.bands),
            "geocube:variable_dformat": str(layer.variable.dformat),
        }
    )
    return pystac.Asset(
        href=dataset.uri,
        media_type=COG,
        roles=["data"],
        title=f"{layer.variable.name} ({layer.instance.name})",
        extra_fields=fields,
    )


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


def _item_links() -> list[dict[str, str]]:
    parent = {"href": "../collection.json", "type": "application/json"}
    return [{"rel": rel, **parent} for rel in ("collection", "parent", "root")]


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


def build_collection(index: EmbeddedIndex, aoi: str) -> dict[str, Any]:
    """The AOI's collection document, from every item published for it."""
    with index.session() as session:
        rows = session.scalars(
            select(StacItemRow).where(StacItemRow.collection == aoi).order_by(StacItemRow.time, StacItemRow.item_id)
        ).all()
        items = [(row.item_id, list(row.bbox), row.time) for row in rows]
    bboxes = [b for _, b, _ in items if len(b) == 4]
    bbox = (
        [min(b[0] for b in bboxes), min(b[1] for b in bboxes), max(b[2] for b in bboxes), max(b[3] for b in bboxes)]
        if bboxes
        else [-180.0, -90.0, 180.0, 90.0]
    )
    times = [t for _, _, t in items]
    interval = [[_iso(min(times)), _iso(max(times))]] if times else [[None, None]]
    links = [{"rel": "root", "href": "./collection.json", "type": "application/json"}]
    links += [
        {"rel": "item", "href": f"./items/{item_id}.json", "type": "application/geo+json"} for item_id, _, _ in items
    ]
    return {
        "type": "Collection",
        "stac_version": pystac.get_stac_version(),
        "stac_extensions": [],
        "id": aoi,
        "title": aoi,
        "description": f"Layers of the AOI {aoi}, processed and indexed by geocube-ingest.",
        "license": "other",
        "extent": {"spatial": {"bbox": [bbox]}, "temporal": {"interval": interval}},
        "links": links,
    }


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _dumps(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")


# -- STAC API (transactions extension) ----------------------------------------------------------


def push_to_api(
    collection: dict[str, Any],
    items: Sequence[pystac.Item],
    *,
    settings: Settings | None = None,
    client: httpx.Client | None = None,
) -> int:
    """Create or update the collection and items on `settings.index.stac_api_url`; how many items were sent.

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

    def send(self, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.policy.send(
            f"STAC API {method} {path}", lambda: self.http.request(method, path, json=body, headers=self.headers)
        )


def read_items(href: str, settings: Settings | None = None) -> list[pystac.Item]:
    """Every item of a published collection (local or remote)."""
    collection = pystac.Collection.from_file(href, stac_io=FsspecStacIO(settings))
    return list(collection.get_items(recursive=False))
