"""Picking the index implementation the settings name."""

from __future__ import annotations

from geocube_ingest.index.base import Index
from geocube_ingest.settings import Settings, get_settings


def get_index(settings: Settings | None = None) -> Index:
    """The configured index: the embedded SQL one (default), or a Geocube server through its client."""
    settings = settings or get_settings()
    if settings.index.backend == "geocube":
        from geocube_ingest.index.geocube_adapter import GeocubeIndex

        return GeocubeIndex.from_settings(settings)
    from geocube_ingest.index.embedded import EmbeddedIndex

    return EmbeddedIndex(settings=settings)
