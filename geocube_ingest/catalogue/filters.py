"""The payload's catalogue filters (SPEC section 3), and how each kind of provider asks for them.

A filter is parsed once into `Filters`; providers translate what their API can express
(STAC `query` or CQL2 `filter`, OData `$filter`) and every result is checked again here on
the normalised tags, so a server that ignores part of a query never lets a wrong scene
through. A filter that cannot apply (cloud cover of radar scenes, an unknown product type)
is an error that names it.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

from geocube_ingest.catalogue.models import CatalogueScene
from geocube_ingest.catalogue.naming import name_info
from geocube_ingest.errors import InvalidInput, PayloadError
from geocube_ingest.payload import Constellation, Payload, cloud_cover_range

POLARISATIONS = ("VV", "VH", "HH", "HV")
S1_MODES = ("IW", "EW", "SM", "WV", "S1", "S2", "S3", "S4", "S5", "S6")
S1_PRODUCT_TYPES = ("SLC", "GRD", "RAW", "OCN")
S2_PRODUCT_TYPES = {"L1C": "S2MSI1C", "L2A": "S2MSI2A"}
LANDSAT_PRODUCT_TYPES = ("L1", "L2", "L1TP", "L1GT", "L1GS", "L2SP", "L2SR")
_S1_FULL_TYPE = re.compile(r"^(IW|EW|SM|WV|S[1-6])_(SLC|GRD|RAW|OCN)[A-Z0-9_]*$")


class UnsupportedQuery(InvalidInput):
    """A provider cannot express this query (a filter, a constellation or a product type it lacks)."""


def _problem(name: str, reason: str) -> PayloadError:
    return PayloadError([(f"scene_type.parameters.{name}", reason)])


def _product_type(constellation: Constellation, value: str) -> tuple[str, str | None]:
    """(normalised product type, S1 mode implied by a full type like IW_SLC__1S)."""
    text = value.strip().upper()
    if constellation == Constellation.SENTINEL1:
        if match := _S1_FULL_TYPE.match(text):
            return match.group(2), match.group(1)
        text = text.rstrip("HMF") if text.startswith("GRD") else text
        if text not in S1_PRODUCT_TYPES:
            raise _problem("producttype", f"{value!r} is not a Sentinel-1 product type ({', '.join(S1_PRODUCT_TYPES)})")
        return text, None
    if constellation == Constellation.SENTINEL2:
        key = text.removeprefix("S2MSI").removeprefix("MSI")
        key = {"1C": "L1C", "2A": "L2A"}.get(key, key)
        if key not in S2_PRODUCT_TYPES:
            raise _problem("producttype", f"{value!r} is not a Sentinel-2 product type (L1C, L2A)")
        return S2_PRODUCT_TYPES[key], None
    if text not in LANDSAT_PRODUCT_TYPES:
        raise _problem("producttype", f"{value!r} is not a Landsat product type ({', '.join(LANDSAT_PRODUCT_TYPES)})")
    return text, None


def _platform(constellation: Constellation, value: str) -> str | None:
    """The satellite unit ("A", "B"... for Sentinel, "8"/"9" for Landsat); None for the whole mission."""
    text = re.sub(r"[\s_\-]", "", value.strip().upper())
    if constellation == Constellation.LANDSAT89:
        match = re.fullmatch(r"(?:LANDSAT|L[COTEM]?)0?([89])?", text)
        if not match:
            raise _problem("platformname", f"{value!r} is not Landsat 8 or 9")
        return match.group(1)
    digit = "1" if constellation == Constellation.SENTINEL1 else "2"
    match = re.fullmatch(rf"(?:SENTINEL|S){digit}([A-Z])?", text)
    if not match:
        raise _problem("platformname", f"{value!r} is not a {constellation.value} platform (e.g. Sentinel-{digit}A)")
    return match.group(1)


def _only_for(name: str, constellation: Constellation, allowed: tuple[Constellation, ...]) -> None:
    if constellation not in allowed:
        raise _problem(name, f"does not apply to {constellation.value}")


@dataclass(frozen=True, slots=True)
class Filters:
    constellation: Constellation
    product_type: str | None = None  # SLC/GRD, S2MSI1C/S2MSI2A, L1/L2/L2SP...
    polarisations: frozenset[str] | None = None
    mode: str | None = None
    relative_orbits: tuple[int, ...] | None = None
    cloud_cover: tuple[float, float] | None = None
    platform: str | None = None
    filename: str | None = None

    @classmethod
    def from_payload(cls, payload: Payload) -> Filters:
        constellation = payload.constellation
        params = {k: v for k, v in payload.scene_type.effective_parameters().items() if v.strip()}
        values: dict[str, Any] = {}
        implied_mode = None
        if "producttype" in params:
            values["product_type"], implied_mode = _product_type(constellation, params["producttype"])
        if "polarisationmode" in params:
            _only_for("polarisationmode", constellation, (Constellation.SENTINEL1,))
            pols = frozenset(p for p in re.split(r"[\s&,+]+", params["polarisationmode"].upper()) if p)
            if not pols or not pols <= set(POLARISATIONS):
                raise _problem("polarisationmode", f"{params['polarisationmode']!r}: expected VV, VH, HH, HV")
            values["polarisations"] = pols
        if "sensoroperationalmode" in params:
            _only_for("sensoroperationalmode", constellation, (Constellation.SENTINEL1,))
            mode = params["sensoroperationalmode"].strip().upper()
            if mode not in S1_MODES:
                raise _problem("sensoroperationalmode", f"{mode!r} is not a Sentinel-1 mode ({', '.join(S1_MODES)})")
            values["mode"] = mode
        if implied_mode and "sensoroperationalmode" not in payload.scene_type.parameters:
            values["mode"] = implied_mode  # e.g. EW_SLC__1S overrides the default mode IW
        if implied_mode and values.setdefault("mode", implied_mode) != implied_mode:
            raise _problem("producttype", f"{params['producttype']!r} contradicts mode {values['mode']!r}")
        if "relativeorbitnumber" in params:
            orbits = tuple(int(p) for p in re.split(r"[,\s]+", params["relativeorbitnumber"]) if p)
            values["relative_orbits"] = orbits
        if "cloudcoverpercentage" in params:
            _only_for("cloudcoverpercentage", constellation, (Constellation.SENTINEL2, Constellation.LANDSAT89))
            values["cloud_cover"] = cloud_cover_range(params["cloudcoverpercentage"])
        if "platformname" in params:
            values["platform"] = _platform(constellation, params["platformname"])
        if "filename" in params:
            values["filename"] = params["filename"].strip()
        return cls(constellation, **values)

    # -- checking results --------------------------------------------------------------

    def mismatch(self, scene: CatalogueScene) -> str | None:
        """Why the scene does not pass the filters (None when it does)."""
        tags = scene.tags
        info = name_info(scene.source_id)
        if info.constellation is not None and info.constellation != self.constellation:
            return f"constellation {info.constellation.value}"
        if self.product_type and not _same_product_type(self.product_type, tags.get("productType", "")):
            return f"productType {tags.get('productType', '')!r}"
        if self.polarisations is not None:
            found = frozenset(tags.get("polarisationMode", "").split())
            if found != self.polarisations:
                return f"polarisationMode {tags.get('polarisationMode', '')!r}"
        if self.mode and info.mode and info.mode != self.mode:
            return f"mode {info.mode}"
        if self.relative_orbits and _int(tags.get("relativeOrbit")) not in self.relative_orbits:
            return f"relativeOrbit {tags.get('relativeOrbit', '')!r}"
        if self.cloud_cover is not None:
            cover = _float(tags.get("cloudCoverPercentage"))
            low, high = self.cloud_cover
            if cover is None:
                return f"no cloud cover ({tags.get('cloudCoverPercentage', '')!r})"
            if cover > high:
                return f"over the cloud limit ({cover:g} > {high:g})"
            if cover < low:
                return f"under the cloud minimum ({cover:g} < {low:g})"
        if self.platform and not _same_platform(self.platform, tags.get("satellite", "")):
            return f"satellite {tags.get('satellite', '')!r}"
        if self.filename and not filename_matches(self.filename, scene.source_id):
            return "filename"
        return None

    def matches(self, scene: CatalogueScene) -> bool:
        return self.mismatch(scene) is None


def reason_kind(why: str) -> str:
    """A reason a scene was left out, without its values ("over the cloud limit", "productType")."""
    return re.split(r" [('(]", why, maxsplit=1)[0]


def _same_product_type(wanted: str, found: str) -> bool:
    if wanted in ("L1", "L2"):
        return found.startswith(wanted)
    return wanted == found.upper()


def _same_platform(wanted: str, satellite: str) -> bool:
    return satellite.upper().endswith(wanted)  # SENTINEL1A ends with A, LANDSAT09 with 9


def _int(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def filename_matches(pattern: str, source_id: str) -> bool:
    """Shell-style pattern (`S1A_IW_*`) against the name, or a plain substring."""
    if any(c in pattern for c in "*?["):
        return any(fnmatch.fnmatchcase(name, pattern) for name in (source_id, source_id + ".SAFE"))
    return pattern in source_id


# -- STAC -----------------------------------------------------------------------------------

# Payload filters a STAC API may be asked for, and the standard property each maps to.
STAC_PROPERTIES = {
    "cloud_cover": "eo:cloud_cover",
    "relative_orbit": "sat:relative_orbit",
    "mode": "sar:instrument_mode",
}


def stac_conditions(filters: Filters, queryables: tuple[str, ...]) -> list[tuple[str, str, Any]]:
    """(property, operator, value) for the filters this API can be asked for; the rest is checked locally."""
    conditions: list[tuple[str, str, Any]] = []
    if filters.cloud_cover is not None and "cloud_cover" in queryables:
        conditions.append((STAC_PROPERTIES["cloud_cover"], "gte", filters.cloud_cover[0]))
        conditions.append((STAC_PROPERTIES["cloud_cover"], "lte", filters.cloud_cover[1]))
    if filters.relative_orbits and "relative_orbit" in queryables:
        orbits = list(filters.relative_orbits)
        if len(orbits) == 1:
            conditions.append((STAC_PROPERTIES["relative_orbit"], "eq", orbits[0]))
        else:
            conditions.append((STAC_PROPERTIES["relative_orbit"], "in", orbits))
    if filters.mode and "mode" in queryables:
        conditions.append((STAC_PROPERTIES["mode"], "eq", filters.mode))
    return conditions


def stac_query(conditions: list[tuple[str, str, Any]]) -> dict[str, dict[str, Any]]:
    """The STAC API `query` extension body."""
    query: dict[str, dict[str, Any]] = {}
    for prop, op, value in conditions:
        query.setdefault(prop, {})[op] = value
    return query


_CQL2_OPS = {"eq": "=", "gte": ">=", "lte": "<=", "in": "in"}


def cql2_filter(conditions: list[tuple[str, str, Any]]) -> dict[str, Any]:
    """The same conditions as CQL2-JSON (the STAC API `filter` extension)."""
    args = [{"op": _CQL2_OPS[op], "args": [{"property": prop}, value]} for prop, op, value in conditions]
    return args[0] if len(args) == 1 else {"op": "and", "args": args}


# -- OData (Copernicus Data Space) --------------------------------------------------------------

ODATA_COLLECTIONS = {Constellation.SENTINEL1: "SENTINEL-1", Constellation.SENTINEL2: "SENTINEL-2"}
_S1_TYPE_CODES = {
    "SLC": ("SLC__1S",),
    "GRD": ("GRDH_1S", "GRDM_1S", "GRDF_1S"),
    "RAW": ("RAW__0S",),
    "OCN": ("OCN__2S",),
}


def odata_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _attribute(kind: str, name: str, condition: str) -> str:
    """`Attributes/OData.CSC.<kind>Attribute/any(...)` with `condition` on `att/.../Value`."""
    value = f"att/OData.CSC.{kind}Attribute/Value"
    return (
        f"Attributes/OData.CSC.{kind}Attribute/any(att:att/Name eq {odata_quote(name)} and "
        + condition.replace("{v}", value)
        + ")"
    )


def odata_conditions(filters: Filters) -> list[str]:
    """`$filter` clauses of the payload filters (the AOI and dates are added by the provider)."""
    if filters.constellation not in ODATA_COLLECTIONS:
        raise UnsupportedQuery(f"no {filters.constellation.value} collection in the Copernicus Data Space OData API")
    clauses = [f"Collection/Name eq {odata_quote(ODATA_COLLECTIONS[filters.constellation])}"]
    if filters.product_type:
        if filters.constellation == Constellation.SENTINEL1:
            if filters.mode:
                codes = [f"{filters.mode}_{code}" for code in _S1_TYPE_CODES[filters.product_type]]
                clauses.append(_attribute("String", "productType", _any_equal("{v}", codes)))
            else:
                clauses.append(f"contains(Name,{odata_quote('_' + filters.product_type)})")
        else:
            clauses.append(_attribute("String", "productType", f"{{v}} eq {odata_quote(filters.product_type)}"))
    if filters.polarisations:
        ordered = [p for p in POLARISATIONS if p in filters.polarisations]
        clauses.append(_attribute("String", "polarisationChannels", f"{{v}} eq {odata_quote('&'.join(ordered))}"))
    if filters.mode:
        clauses.append(_attribute("String", "operationalMode", f"{{v}} eq {odata_quote(filters.mode)}"))
    if filters.relative_orbits:
        clauses.append(_attribute("Integer", "relativeOrbitNumber", _any_equal("{v}", list(filters.relative_orbits))))
    if filters.cloud_cover is not None:
        low, high = filters.cloud_cover
        clauses.append(_attribute("Double", "cloudCover", f"{{v}} ge {low} and {{v}} le {high}"))
    if filters.platform:
        clauses.append(_attribute("String", "platformSerialIdentifier", f"{{v}} eq {odata_quote(filters.platform)}"))
    if filters.filename:
        clauses.extend(_name_clauses(filters.filename))
    return clauses


def _any_equal(target: str, values: list[Any]) -> str:
    parts = [f"{target} eq {odata_quote(v) if isinstance(v, str) else v}" for v in values]
    return parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"


def _name_clauses(pattern: str) -> list[str]:
    """A shell pattern as `startswith`/`contains` on Name (exact glob semantics are checked locally)."""
    parts = [p for p in re.split(r"[*?\[\]]+", pattern) if p]
    clauses = [f"contains(Name,{odata_quote(p)})" for p in parts]
    if parts and not pattern.startswith(("*", "?", "[")) and any(c in pattern for c in "*?["):
        clauses[0] = f"startswith(Name,{odata_quote(parts[0])})"
    return clauses
