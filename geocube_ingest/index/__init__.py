"""The index ("the Geocube"): layers, records and datasets, and their STAC publication.

Python API:
    index = get_index()                                  # embedded SQL, or a Geocube server
    index.create_variable("NDVI", "float32,nan,-1,1")
    index.instantiate("NDVI", "S2")
    index.resolve_layers(payload.layers)                 # layer -> instance id
    publish_collection(index, "MyAOI")                   # STAC items of what is indexed
    open_cube("NDVI", "S2", collection="MyAOI")          # xarray (time, y, x), real values
"""

from typing import Any

from geocube_ingest.index.base import (
    CreatedRecord,
    DatasetToIndex,
    DFormat,
    Index,
    Instance,
    LayerRef,
    NewRecord,
    Record,
    Resampling,
    ValueMapping,
    Variable,
    record_batch,
    record_tags,
)
from geocube_ingest.index.factory import get_index

__all__ = [
    "CreatedRecord",
    "DFormat",
    "DatasetToIndex",
    "Index",
    "Instance",
    "LayerRef",
    "NewRecord",
    "Record",
    "Resampling",
    "ValueMapping",
    "Variable",
    "get_index",
    "open_cube",
    "publish_collection",
    "record_batch",
    "record_tags",
]


def __getattr__(name: str) -> Any:
    # The STAC and cube modules pull in odc-stac/xarray: loaded on first use only.
    if name == "open_cube":
        from geocube_ingest.index.cube import open_cube

        return open_cube
    if name == "publish_collection":
        from geocube_ingest.index.stac import publish_collection

        return publish_collection
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
