"""Any STAC API, through pystac-client (Earth Search, Planetary Computer, CDSE STAC, USGS Landsat...)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from pystac_client import Client, ConformanceClasses
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO
from pystac_client.warnings import DoesNotConformTo
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

from geocube_ingest.catalogue.filters import cql2_filter, stac_conditions, stac_query
from geocube_ingest.catalogue.models import CatalogueScene
from geocube_ingest.catalogue.providers.base import ProviderPage, SceneQuery, SearchProvider
from geocube_ingest.catalogue.providers.http import RETRY_STATUSES
from geocube_ingest.catalogue.providers.presets import StacMapping, stac_mapping
from geocube_ingest.catalogue.providers.stac_items import scene_from_item
from geocube_ingest.errors import FatalError, GeocubeIngestError, TemporaryError

log = logging.getLogger(__name__)


def _matched(page: dict[str, Any]) -> int | None:
    matched = page.get("numberMatched")
    if matched is None:
        matched = (page.get("context") or {}).get("matched")
    return int(matched) if isinstance(matched, int | float) else None


def _has_next(page: dict[str, Any]) -> bool:
    return any(link.get("rel") == "next" for link in page.get("links", []))


def items_to_scenes(
    items: list[dict[str, Any]], provider: str, query: SceneQuery, warnings_out: list[str]
) -> list[CatalogueScene]:
    """Normalise items; items of another constellation are left out, unusable ones reported."""
    scenes = []
    for item in items:
        try:
            scene, constellation = scene_from_item(item, provider)
        except GeocubeIngestError as exc:
            warnings_out.append(f"{provider}: skipped {exc}")
            continue
        if constellation == query.constellation:
            scenes.append(scene)
    return scenes


class StacProvider(SearchProvider):
    kind = "stac"

    @property
    def mapping(self) -> StacMapping:
        return stac_mapping(self.config.preset, self.config.options)

    def _client(self) -> Client:
        stac_io = StacApiIO(timeout=self.retry.timeout, max_retries=self.retry.urllib3())
        headers = self.headers()
        if headers:
            # Added when sending, so pystac-client's debug log of request headers never shows them,
            # and only to this API's host (never to a host a redirect leads to).
            adapter = _AuthAdapter(urlsplit(self.config.url).netloc, headers, max_retries=self.retry.urllib3())
            stac_io.session.mount("http://", adapter)
            stac_io.session.mount("https://", adapter)
        return Client.open(self.config.url, stac_io=stac_io)

    def _search_arguments(self, client: Client, query: SceneQuery, page_size: int) -> dict[str, Any]:
        mapping = self.mapping
        collection = mapping.collection(self.name, query.constellation, query.filters.product_type)
        arguments: dict[str, Any] = {
            "collections": [collection],
            "intersects": query.query_geojson(),
            "datetime": [query.start, query.end],
            "limit": page_size,
        }
        conditions = stac_conditions(query.filters, mapping.queryables.get(query.constellation, ()))
        if conditions and mapping.filter_mode == "query" and client.conforms_to(ConformanceClasses.QUERY):
            arguments["query"] = stac_query(conditions)
        elif conditions and mapping.filter_mode == "filter" and client.conforms_to(ConformanceClasses.FILTER):
            arguments["filter"] = cql2_filter(conditions)
            arguments["filter_lang"] = "cql2-json"
        return arguments

    def _pages(self, query: SceneQuery, page_size: int) -> Iterator[dict[str, Any]]:
        client = self._client()
        arguments = self._search_arguments(client, query, page_size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DoesNotConformTo)
            search = client.search(**arguments)
            yield from search.pages_as_dicts()

    def search(self, query: SceneQuery) -> ProviderPage:
        notes: list[str] = []
        try:
            if query.limit is None:
                items: list[dict[str, Any]] = []
                for page in self._pages(query, self.page_size()):
                    items.extend(page.get("features", []))
                return ProviderPage(items_to_scenes(items, self.name, query, notes), False, notes)
            wanted = query.page or 0
            for number, page in enumerate(self._pages(query, query.limit)):
                if number < wanted:
                    continue
                matched = _matched(page)
                more = _has_next(page) and (matched is None or (wanted + 1) * query.limit < matched)
                scenes = items_to_scenes(page.get("features", []), self.name, query, notes)
                return ProviderPage(scenes, more, notes)
            return ProviderPage([], False, notes)  # past the last page
        except APIError as exc:
            raise _api_error(self.name, exc) from None


class _AuthAdapter(HTTPAdapter):
    """Adds authentication headers to requests for one host, at the last moment."""

    def __init__(self, host: str, headers: dict[str, str], **kwargs: Any):
        super().__init__(**kwargs)
        self._host = host
        self._headers = headers

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        if urlsplit(request.url or "").netloc == self._host:
            request.headers.update(self._headers)
        return super().send(request, *args, **kwargs)


def _api_error(provider: str, exc: APIError) -> GeocubeIngestError:
    status = getattr(exc, "status_code", None)
    text = str(exc).strip().replace("\n", " ")[:300]
    if status is None or status in RETRY_STATUSES:
        return TemporaryError(f"{provider}: {'HTTP ' + str(status) + ': ' if status else ''}{text}")
    return FatalError(f"{provider}: HTTP {status}: {text}")
