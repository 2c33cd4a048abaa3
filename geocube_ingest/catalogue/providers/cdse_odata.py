"""The Copernicus Data Space Ecosystem OData catalogue (upstream's default for S1 SLC and S2 L1C), via httpx.

`$filter` is built from the payload (filters.py), results are ordered by acquisition start,
`$expand=Attributes` gives the tags; pages are `$top`/`$skip`, and listing everything follows
`@odata.nextLink` until the service stops giving one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geocube_ingest.catalogue.dates import parse_datetime, rfc3339, rfc3339_micro
from geocube_ingest.catalogue.filters import ODATA_COLLECTIONS, odata_conditions
from geocube_ingest.catalogue.models import CatalogueScene
from geocube_ingest.catalogue.naming import name_info, strip_extension
from geocube_ingest.catalogue.providers.base import ProviderPage, SceneQuery, SearchProvider
from geocube_ingest.catalogue.providers.http import get_json
from geocube_ingest.catalogue.providers.stac_items import CONSTELLATION_TAGS
from geocube_ingest.errors import FatalError, GeocubeIngestError, InvalidInput
from geocube_ingest.payload import Constellation

MAX_TOP = 1000  # the service's largest page
# CDSE serves product downloads from another host than its catalogue.
CDSE_CATALOGUE_HOST = "catalogue.dataspace.copernicus.eu"
CDSE_DOWNLOAD_URL = "https://download.dataspace.copernicus.eu/odata/v1"


def _attributes(product: dict[str, Any]) -> dict[str, Any]:
    return {str(a.get("Name")): a.get("Value") for a in product.get("Attributes") or [] if isinstance(a, dict)}


def product_footprint(product: dict[str, Any]) -> BaseGeometry | None:
    """GeoFootprint (GeoJSON), else the `geography'SRID=4326;POLYGON(...)'` Footprint; None for AUX products."""
    if product.get("GeoFootprint"):
        footprint = shape(product["GeoFootprint"])
        return footprint if footprint.is_valid else footprint.buffer(0)
    text = product.get("Footprint")
    if text:
        wkt = str(text).split(";", 1)[-1].rstrip("'")
        try:
            return shapely.from_wkt(wkt)
        except shapely.errors.ShapelyError:
            raise InvalidInput(f"product {product.get('Name')}: unreadable Footprint") from None
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def scene_from_product(product: dict[str, Any], provider: str, download_base: str) -> CatalogueScene:
    name = product.get("Name")
    if not name or not product.get("Id"):
        raise InvalidInput("a product has no Name or Id")
    source_id = strip_extension(str(name))
    info = name_info(source_id)
    attrs = _attributes(product)
    try:
        date = parse_datetime((product.get("ContentDate") or {}).get("Start") or attrs["beginningDateTime"])
    except (KeyError, ValueError):
        raise InvalidInput(f"product {name}: no acquisition date") from None
    ingestion = attrs.get("processingDate") or product.get("PublicationDate")
    tags = {
        "sourceID": source_id,
        "uuid": str(product["Id"]),
        "constellation": CONSTELLATION_TAGS[info.constellation] if info.constellation else "",
        "satellite": info.satellite,
        "orbit": _text(attrs.get("orbitNumber")) or info.absolute_orbit,
        "relativeOrbit": _text(attrs.get("relativeOrbitNumber")) or info.relative_orbit,
        "orbitDirection": _text(attrs.get("orbitDirection")).upper(),
        "productType": info.product_type or _text(attrs.get("productType")),
        "ingestionDate": rfc3339_micro(parse_datetime(ingestion)) if ingestion else rfc3339_micro(date),
    }
    if info.constellation is not None and info.constellation.value == "SENTINEL1":
        channels = _text(attrs.get("polarisationChannels"))
        tags["polarisationMode"] = " ".join(p for p in channels.replace("&", " ").split()) or info.polarisations
        if attrs.get("sliceNumber") is not None:
            tags["sliceNumber"] = _text(attrs["sliceNumber"])
    if attrs.get("cloudCover") is not None:
        tags["cloudCoverPercentage"] = _text(attrs["cloudCover"])
    metadata: dict[str, Any] = {
        "provider": provider,
        "download_link": f"{download_base}/Products({product['Id']})/$value",
        "online": product.get("Online", True),
    }
    # size/md5 describe the download_link's file (the download providers check them).
    if product.get("ContentLength"):
        metadata["size"] = product["ContentLength"]
    checksums = {c.get("Algorithm"): c.get("Value") for c in product.get("Checksum") or [] if c.get("Value")}
    if checksums:
        metadata["checksums"] = checksums
    if checksums.get("MD5"):
        metadata["md5"] = str(checksums["MD5"]).lower()
    if product.get("S3Path"):
        metadata["s3_path"] = product["S3Path"]
    return CatalogueScene(
        source_id=source_id,
        date=date,
        footprint=product_footprint(product),
        uuid=str(product["Id"]),
        tags=tags,
        metadata=metadata,
    )


class CdseODataProvider(SearchProvider):
    kind = "cdse-odata"

    def serves(self, constellation: Constellation) -> bool:
        return constellation in ODATA_COLLECTIONS

    def odata_filter(self, query: SceneQuery) -> str:
        clauses = odata_conditions(query.filters)
        wkt = shapely.to_wkt(query.query_geometry(), rounding_precision=6)
        clauses.append(f"OData.CSC.Intersects(area=geography'SRID=4326;{wkt}')")
        clauses.append(f"ContentDate/Start ge {rfc3339(query.start)}")
        clauses.append(f"ContentDate/Start le {rfc3339(query.end)}")
        return " and ".join(clauses)

    def _params(self, query: SceneQuery, top: int, skip: int) -> dict[str, Any]:
        return {
            "$filter": self.odata_filter(query),
            "$orderby": "ContentDate/Start asc",
            "$top": top,
            "$skip": skip,
            "$expand": "Attributes",
        }

    def download_base(self) -> str:
        if self.config.options.get("download_url"):
            return str(self.config.options["download_url"]).rstrip("/")
        if urlsplit(self.config.url).netloc == CDSE_CATALOGUE_HOST:
            return CDSE_DOWNLOAD_URL
        return self.config.url.rstrip("/")

    def _scenes(self, products: list[dict[str, Any]], notes: list[str]) -> list[CatalogueScene]:
        base = self.download_base()
        scenes = []
        for product in products:
            try:
                scenes.append(scene_from_product(product, self.name, base))
            except GeocubeIngestError as exc:
                notes.append(f"{self.name}: skipped {exc}")
        return scenes

    def search(self, query: SceneQuery) -> ProviderPage:
        url = self.config.url.rstrip("/") + "/Products"
        notes: list[str] = []
        timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout)
        with httpx.Client(headers=self.headers(), timeout=timeout, follow_redirects=True) as client:
            if query.limit is not None:
                if query.limit > MAX_TOP:
                    raise InvalidInput(f"{self.name}: limit {query.limit} is over the service's {MAX_TOP}")
                params = self._params(query, query.limit, (query.page or 0) * query.limit)
                body = self._get(client, url, params)
                return ProviderPage(self._scenes(body["value"], notes), bool(body.get("@odata.nextLink")), notes)
            products: list[dict[str, Any]] = []
            body = self._get(client, url, self._params(query, min(self.page_size(), MAX_TOP), 0))
            products.extend(body["value"])
            while body.get("@odata.nextLink") and body["value"]:
                body = self._get(client, body["@odata.nextLink"], None)
                products.extend(body["value"])
            return ProviderPage(self._scenes(products, notes), False, notes)

    def _get(self, client: httpx.Client, url: str, params: dict[str, Any] | None) -> dict[str, Any]:
        body = get_json(client, url, self.retry, f"{self.name}", params)
        if not isinstance(body, dict) or not isinstance(body.get("value"), list):
            raise FatalError(f"{self.name}: the answer has no 'value' list")
        return body
