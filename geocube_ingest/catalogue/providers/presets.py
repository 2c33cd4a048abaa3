"""How each known STAC API names its collections, and which filters it can evaluate itself.

`collections` maps a constellation and a product type (as normalised by filters.py; Landsat
by level "L1"/"L2") to a collection id; the first entry is used when the payload gives no
product type. `filter_mode` says how server-side filters are sent: "query" (STAC query
extension), "filter" (CQL2-JSON) or "none" (everything is checked locally). `queryables`
lists the filters (cloud_cover, relative_orbit, mode) whose properties the API's items carry.
A provider's `options` override any of these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from geocube_ingest.catalogue.filters import UnsupportedQuery
from geocube_ingest.payload import Constellation

S1, S2, LS = Constellation.SENTINEL1, Constellation.SENTINEL2, Constellation.LANDSAT89


@dataclass(frozen=True, slots=True)
class StacMapping:
    collections: dict[Constellation, dict[str, str]]
    filter_mode: str = "query"
    queryables: dict[Constellation, tuple[str, ...]] = field(default_factory=dict)

    def collection(self, provider: str, constellation: Constellation, product_type: str | None) -> str:
        """The collection holding this product type; UnsupportedQuery names what is missing."""
        known = self.collections.get(constellation, {})
        if not known:
            raise UnsupportedQuery(f"{provider} has no {constellation.value} collection")
        if product_type is None:
            return next(iter(known.values()))
        key = product_type[:2] if constellation == LS else product_type
        if key not in known:
            raise UnsupportedQuery(
                f"{provider} has no {constellation.value} collection for producttype {product_type!r} "
                f"(it has: {', '.join(known)})"
            )
        return known[key]

    def with_options(self, options: dict[str, Any]) -> StacMapping:
        collections = dict(self.collections)
        for name, mapping in (options.get("collections") or {}).items():
            collections[Constellation.parse(name)] = {str(k).upper(): str(v) for k, v in mapping.items()}
        queryables = dict(self.queryables)
        for name, values in (options.get("queryables") or {}).items():
            queryables[Constellation.parse(name)] = tuple(values)
        mode = str(options.get("filter_mode", self.filter_mode))
        if mode not in ("query", "filter", "none"):
            raise ValueError(f"filter_mode {mode!r}: expected query, filter or none")
        return StacMapping(collections, mode, queryables)


_SAR = ("relative_orbit", "mode")

PRESETS: dict[str, StacMapping] = {
    "earth-search": StacMapping(
        collections={
            S1: {"GRD": "sentinel-1-grd"},
            S2: {"S2MSI1C": "sentinel-2-l1c", "S2MSI2A": "sentinel-2-c1-l2a"},
            LS: {"L2": "landsat-c2-l2"},
        },
        filter_mode="query",
        # Earth Search's Sentinel-2 items carry no sat:relative_orbit (the name has it: checked locally).
        queryables={S1: _SAR, S2: ("cloud_cover",), LS: ("cloud_cover",)},
    ),
    "planetary-computer": StacMapping(
        collections={
            S1: {"GRD": "sentinel-1-grd"},
            S2: {"S2MSI2A": "sentinel-2-l2a"},
            LS: {"L2": "landsat-c2-l2", "L1": "landsat-c2-l1"},
        },
        filter_mode="filter",
        queryables={S1: _SAR, S2: ("cloud_cover", "relative_orbit"), LS: ("cloud_cover",)},
    ),
    "cdse-stac": StacMapping(
        collections={
            S1: {"SLC": "sentinel-1-slc", "GRD": "sentinel-1-grd"},
            S2: {"S2MSI1C": "sentinel-2-l1c", "S2MSI2A": "sentinel-2-l2a"},
        },
        filter_mode="filter",
        queryables={S1: _SAR, S2: ("cloud_cover", "relative_orbit")},
    ),
    "usgs-landsat": StacMapping(
        collections={LS: {"L2": "landsat-c2l2-sr", "L1": "landsat-c2l1"}},
        filter_mode="query",
        queryables={LS: ("cloud_cover",)},
    ),
}

# A STAC API without a preset: the most common collection names, everything checked locally.
GENERIC = StacMapping(collections=PRESETS["earth-search"].collections, filter_mode="none", queryables={})


def stac_mapping(preset: str | None, options: dict[str, Any]) -> StacMapping:
    base = PRESETS.get(preset or "", GENERIC)
    return base.with_options(options)
