"""Any STAC API, through pystac-client (Earth Search, Planetary Computer, CDSE STAC, USGS Landsat...).

pystac-client talks through requests: its session gets one transport adapter that applies
the shared retry policy (instead of urllib3's retries, whose warnings reached the user) and
adds credentials for the API's host only. The timeout is given to `Client.open` itself: a
`StacApiIO(timeout=...)` alone is reset by `Client.open`, which calls `stac_io.update(timeout=None)`
(pystac-client#791).
"""

from __future__ import annotations

import logging
import re
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
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import ConnectTimeout, RequestException
from urllib3.exceptions import ProtocolError

from geocube_ingest.catalogue.filters import cql2_filter, stac_conditions, stac_query
from geocube_ingest.catalogue.models import CatalogueScene
from geocube_ingest.catalogue.providers.base import ProviderPage, SceneQuery, SearchProvider
from geocube_ingest.catalogue.providers.presets import StacMapping, stac_mapping
from geocube_ingest.catalogue.providers.stac_items import scene_from_item
from geocube_ingest.errors import FatalError, GeocubeIngestError, TemporaryError
from geocube_ingest.payload import Constellation
from geocube_ingest.retry import Retryable, RetryPolicy, is_retry_status, retry_after_seconds

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

    def serves(self, constellation: Constellation) -> bool:
        return constellation in self.mapping.collections

    def _client(self) -> Client:
        stac_io = StacApiIO(max_retries=None)
        adapter = _PolicyAdapter(self.retry, urlsplit(self.config.url).netloc, self.headers())
        stac_io.session.mount("http://", adapter)
        stac_io.session.mount("https://", adapter)
        return Client.open(self.config.url, stac_io=stac_io, timeout=(self.connect_timeout, self.timeout))

    def _search_arguments(self, client: Client, query: SceneQuery, collection: str, page_size: int) -> dict[str, Any]:
        mapping = self.mapping
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
        # An impossible query is known before any request is made.
        collection = self.mapping.collection(self.name, query.constellation, query.filters.product_type)
        client = self._client()
        arguments = self._search_arguments(client, query, collection, page_size)
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


class _PolicyAdapter(HTTPAdapter):
    """requests' transport for pystac-client: the shared retry policy, and authentication
    headers for one host, added at the last moment (pystac-client's debug log of request
    headers never shows them; a host a redirect leads to never gets them)."""

    def __init__(self, policy: RetryPolicy, host: str, headers: dict[str, str]):
        super().__init__(max_retries=0)
        self._policy = policy
        self._host = host
        self._headers = headers

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        url = urlsplit(request.url or "")
        if self._headers and url.netloc == self._host:
            request.headers.update(self._headers)

        def attempt() -> Response:
            try:
                response = super(_PolicyAdapter, self).send(request, *args, **kwargs)
            except RequestException as exc:
                short = type(exc)(f"{type(exc).__name__}: {_short(exc)}")
                if isinstance(exc, RequestsConnectionError) and _cut(exc):
                    raise Retryable(str(short)) from short
                raise short from None
            if is_retry_status(response.status_code):
                _ = response.content  # read: the last one is returned as it is
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                raise Retryable(f"HTTP {response.status_code}", wait, response=response)
            return response

        try:
            return self._policy.call(attempt, what=f"{request.method} {url.netloc}{url.path}")
        except Retryable as exc:
            if exc.response is not None:
                result: Response = exc.response
                return result
            raise exc.__cause__ or exc from None


def _cut(exc: RequestsConnectionError) -> bool:
    """A connection that broke mid-exchange (not one that could not be made, nor a timeout)."""
    reason = exc.args[0] if exc.args else None
    return not isinstance(exc, ConnectTimeout) and isinstance(reason, ProtocolError)


def _short(exc: RequestException) -> str:
    """The useful end of urllib3's messages ("Max retries exceeded" is said even with no retry)."""
    text = str(exc)
    errno = re.search(r"\[Errno [^\]]+\][^)\"']*", text)
    return errno.group(0).strip() if errno else text.rsplit(": ", 1)[-1].strip()


def _api_error(provider: str, exc: APIError) -> GeocubeIngestError:
    status = getattr(exc, "status_code", None)
    text = str(exc).strip().replace("\n", " ")[:300]
    if status is None or is_retry_status(status):
        return TemporaryError(f"{provider}: {'HTTP ' + str(status) + ': ' if status else ''}{text}")
    return FatalError(f"{provider}: HTTP {status}: {text}")
