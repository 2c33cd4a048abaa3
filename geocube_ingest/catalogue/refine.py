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


OUTSIDE_AOI = "footprint outside the AOI"
REPROCESSED = "reprocessed: the newest version of the product is kept"


def inside(scene: CatalogueScene, aoi: BaseGeometry) -> bool:
    return scene.footprint is not None and bool(scene.footprint.intersects(aoi))


def drop_outside(scenes: Iterable[CatalogueScene], aoi: BaseGeometry) -> list[CatalogueScene]:
    return [s for s in scenes if inside(s, aoi)]


def sort_by_date(scenes: Iterable[CatalogueScene]) -> list[CatalogueScene]:
    return sorted(scenes, key=lambda s: (s.date, s.source_id))


def refine(scenes: Iterable[CatalogueScene], aoi: BaseGeometry) -> list[CatalogueScene]:
    return sort_by_date(drop_outside(drop_reprocessed(scenes), aoi))


def refine_why(
    scenes: Iterable[CatalogueScene], aoi: BaseGeometry
) -> tuple[list[CatalogueScene], list[tuple[str, str]]]:
    """`refine`, and (scene, why) of each scene it left out."""
    given = list(scenes)
    newest = drop_reprocessed(given)
    kept = drop_outside(newest, aoi)
    ids = {id(s) for s in newest}
    dropped = [(s.source_id, REPROCESSED) for s in given if id(s) not in ids]
    dropped += [(s.source_id, OUTSIDE_AOI) for s in newest if not inside(s, aoi)]
    return sort_by_date(kept), dropped
