"""Steps 1-2 of the pipeline: scenes from catalogues, tiles (Sentinel-1 bursts) and their time series.

    search = search_scenes(payload)                        # SceneSearch(scenes, next)
    tiles = list_tiles(payload, search.scenes, workflow=wf)
    new_scenes, relinks = to_workflow(payload, search.scenes, tiles)
    wf.ingest(payload.name, new_scenes, relinks)

From a posted tiles file: `tiles = tiles_from_geojson(doc)`, then
`to_workflow(payload, scenes_of(tiles), tiles)`.

`scenes_to_geojson`/`scenes_from_geojson` and `tiles_to_geojson`/`tiles_from_geojson` read
and write upstream's files, so results can be checked, edited and posted back.
"""

from geocube_ingest.catalogue.convert import scenes_of, to_workflow
from geocube_ingest.catalogue.geojson import (
    scenes_from_geojson,
    scenes_to_geojson,
    tiles_from_geojson,
    tiles_to_geojson,
)
from geocube_ingest.catalogue.models import CatalogueScene, CatalogueTile, Progress, SceneSearch, TileRef
from geocube_ingest.catalogue.search import CatalogueUnavailable, SearchFailed, SearchUnsupported, search_scenes
from geocube_ingest.catalogue.tiles import list_tiles

__all__ = [
    "CatalogueScene",
    "CatalogueTile",
    "CatalogueUnavailable",
    "Progress",
    "SceneSearch",
    "SearchFailed",
    "SearchUnsupported",
    "TileRef",
    "list_tiles",
    "scenes_from_geojson",
    "scenes_of",
    "scenes_to_geojson",
    "search_scenes",
    "tiles_from_geojson",
    "tiles_to_geojson",
    "to_workflow",
]
