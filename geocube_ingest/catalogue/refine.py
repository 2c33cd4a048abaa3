"""Refining a search result the way upstream does (credit: OpenSarToolkit's inventory refinement).

- Re-processed products appear twice (same acquisition, new processing baseline or unique
  id): keep the one ingested last.
- Catalogues search a simplified AOI: drop scenes whose footprint misses the real one.
- Sort by acquisition date (then name, so equal dates are stable).
"""

from __future__ import annotations

from collections.abc import Iterable

from shapely.geometry.base import BaseGeometry

from geocube_ingest.catalogue.models import CatalogueScene
from geocube_ingest.catalogue.naming import name_info


def _newness(scene: CatalogueScene) -> tuple[str, str]:
    # ingestionDate is fixed-width RFC 3339, so text order is time order; the name breaks ties
    # (a later processing discriminator sorts last).
    return scene.tags.get("ingestionDate", ""), scene.source_id


def drop_reprocessed(scenes: Iterable[CatalogueScene]) -> list[CatalogueScene]:
    """One scene per product key (the name without baseline/unique id), the newest one, in first-seen order."""
    kept: dict[str, CatalogueScene] = {}
    for scene in scenes:
        key = name_info(scene.source_id).product_key
        if key not in kept or _newness(scene) > _newness(kept[key]):
            kept[key] = scene
    return list(kept.values())


def drop_outside(scenes: Iterable[CatalogueScene], aoi: BaseGeometry) -> list[CatalogueScene]:
    return [s for s in scenes if s.footprint is not None and s.footprint.intersects(aoi)]


def sort_by_date(scenes: Iterable[CatalogueScene]) -> list[CatalogueScene]:
    return sorted(scenes, key=lambda s: (s.date, s.source_id))


def refine(scenes: Iterable[CatalogueScene], aoi: BaseGeometry) -> list[CatalogueScene]:
    return sort_by_date(drop_outside(drop_reprocessed(scenes), aoi))
