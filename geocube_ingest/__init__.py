"""geocube-ingest: an area, dates and a processing graph in; indexed analysis-ready layers out.

The Python API (everything is importable from here, loaded on first use):

    import geocube_ingest as gi
    payload = gi.Payload.parse(open("LongmontDemoS2.json").read())
    scenes = gi.search_scenes(payload).scenes        # catalogue
    report = gi.ingest(payload, progress=True)       # the main job, resumable
    print(report.text())
    cube = gi.open_cube("NDVI", "demo", collection=payload.name)
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Payload": "geocube_ingest.payload",
    "Settings": "geocube_ingest.settings",
    "get_settings": "geocube_ingest.settings",
    "Status": "geocube_ingest.status",
    "Workflow": "geocube_ingest.workflow",
    "search_scenes": "geocube_ingest.catalogue",
    "list_tiles": "geocube_ingest.catalogue",
    "scenes_to_geojson": "geocube_ingest.catalogue",
    "tiles_to_geojson": "geocube_ingest.catalogue",
    "ingest": "geocube_ingest.pipeline",
    "get_index": "geocube_ingest.index",
    "open_cube": "geocube_ingest.index",
    "publish_collection": "geocube_ingest.index",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy: the CLI starts fast, and importing the package never pulls the raster stack.
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'geocube_ingest' has no attribute {name!r}")
