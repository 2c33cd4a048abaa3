"""The interface every search provider implements, and what a search asks for.

A provider is one class with a `kind` and a `search(query)` method; registering it is one
line in `providers/__init__.py`. Providers raise:
- `UnsupportedQuery` (an InvalidInput) when they cannot express the query: the next
  provider is tried;
- `TemporaryError` when the service is unreachable or answers 429/5xx after retries;
- `FatalError` when the service rejects the request (other 4xx) or answers nonsense.
"""

from __future__ import annotations

import base64
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import shapely
from shapely.geometry import MultiPolygon, mapping
from shapely.geometry.base import BaseGeometry

from geocube_ingest.catalogue.filters import Filters
from geocube_ingest.catalogue.models import CatalogueScene
from geocube_ingest.errors import InvalidInput
from geocube_ingest.payload import Constellation, Payload
from geocube_ingest.retry import RetryPolicy
from geocube_ingest.settings import CatalogueProviderSettings, CatalogueSettings, Settings

# Beyond this many vertices the AOI sent to a catalogue is its convex hull (results are
# re-checked against the real AOI afterwards, so this only widens the request).
MAX_QUERY_VERTICES = 500


@dataclass(frozen=True, slots=True)
class SceneQuery:
    aoi: MultiPolygon
    start: datetime
    end: datetime
    filters: Filters
    page: int | None = None  # 0-based; None with a limit means 0
    limit: int | None = None  # None: every result

    @property
    def constellation(self) -> Constellation:
        return self.filters.constellation

    @classmethod
    def from_payload(cls, payload: Payload, page: int | None = None, limit: int | None = None) -> SceneQuery:
        page = payload.page if page is None else page
        limit = payload.limit if limit is None else limit
        if page is not None and limit is None:
            raise InvalidInput("page needs a limit (results per page)")
        return cls(
            aoi=payload.shape,
            start=payload.start_time,
            end=payload.end_time,
            filters=Filters.from_payload(payload),
            page=(page or 0) if limit is not None else None,
            limit=limit,
        )

    def query_geometry(self) -> BaseGeometry:
        """The AOI as sent to catalogues: simplified if it has too many vertices."""
        geometry: BaseGeometry = self.aoi.geoms[0] if len(self.aoi.geoms) == 1 else self.aoi
        if shapely.get_num_coordinates(geometry) > MAX_QUERY_VERTICES:
            geometry = geometry.convex_hull
        return geometry

    def query_geojson(self) -> dict[str, Any]:
        return dict(mapping(self.query_geometry()))


@dataclass(slots=True)
class ProviderPage:
    scenes: list[CatalogueScene]
    next: bool
    warnings: list[str] = field(default_factory=list)
    # (scene, why) of scenes the provider found and left out itself (filters checked locally).
    dropped: list[tuple[str, str]] = field(default_factory=list)


class SearchProvider(ABC):
    kind: ClassVar[str]

    def __init__(self, config: CatalogueProviderSettings, settings: Settings):
        self.config = config
        self.settings = settings
        self.catalogue: CatalogueSettings = settings.catalogue
        self.retry = RetryPolicy.for_catalogue(settings)
        # Of every request: connect, and each read of the answer (a silent server ends here).
        self.timeout = config.timeout_seconds or self.catalogue.timeout_seconds
        # Connecting is quick or never: a network that drops packets costs this, not `timeout`.
        self.connect_timeout = min(self.timeout, self.catalogue.connect_timeout_seconds)

    @property
    def name(self) -> str:
        return self.config.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.config.url!r})"

    def headers(self) -> dict[str, str]:
        """Authentication headers from settings or the environment (never logged)."""
        token = self.config.token.get_secret_value() if self.config.token else None
        if token:
            return {"Authorization": f"Bearer {token}"}
        password = self.config.password.get_secret_value() if self.config.password else None
        if self.config.username and password is not None:
            raw = f"{self.config.username}:{password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        return {}

    def serves(self, constellation: Constellation) -> bool:
        """Whether this provider holds that constellation at all (others are not asked)."""
        return True

    def page_size(self) -> int:
        return int(self.config.options.get("page_size", self.catalogue.page_size))

    @abstractmethod
    def search(self, query: SceneQuery) -> ProviderPage:
        """One page of scenes (every scene when the query has no limit), normalised."""
