"""What product names tell: constellation, satellite, orbit, tile, and the key of re-processed duplicates.

Names follow the missions' conventions:
- Sentinel-1 `MMM_BB_TTTR_LFPP_YYYYMMDDTHHMMSS_YYYYMMDDTHHMMSS_OOOOOO_DDDDDD_CCCC`
- Sentinel-2 `MMM_MSIXXX_YYYYMMDDTHHMMSS_Nxxyy_ROOO_Txxxxx_<discriminator>`
- Landsat `LXSS_LLLL_PPPRRR_YYYYMMDD_yyyymmdd_CC_TX` (some catalogues leave out the processing date
  `yyyymmdd` or add `_SR`/`_ST`: see landsat_product_id)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from geocube_ingest.payload import Constellation

S1_NAME = re.compile(
    r"^(?P<mission>S1[A-Z])_(?P<mode>[A-Z0-9]{2})_(?P<type>[A-Z_]{3})(?P<resolution>[A-Z_])_"
    r"(?P<level>\d)(?P<klass>[A-Z])(?P<pol>[A-Z]{2})_(?P<start>\d{8}T\d{6})_(?P<stop>\d{8}T\d{6})_"
    r"(?P<orbit>\d{6})_(?P<datatake>[0-9A-F]{6})(?:_(?P<unique>[0-9A-F]{4}))?"
)
S2_NAME = re.compile(
    r"^(?P<mission>S2[A-Z])_MSI(?P<level>L[0-9][A-Z])_(?P<start>\d{8}T\d{6})_(?P<baseline>N\d{4})_"
    r"R(?P<orbit>\d{3})_(?P<tile>T\d{2}[A-Z]{3})_(?P<discriminator>\d{8}T\d{6})"
)
LANDSAT_NAME = re.compile(
    r"^(?P<sensor>L[COTEM])(?P<satellite>\d{2})_(?P<level>L[12][A-Z]{2})_(?P<path>\d{3})(?P<row>\d{3})_"
    r"(?P<date>\d{8})(?:_(?P<processed>\d{8}))?_(?P<collection>\d{2})_(?P<tier>[A-Z0-9]{2})"
)
# S1 polarisation codes of the product name.
S1_POLARISATIONS = {
    "SH": "HH",
    "SV": "VV",
    "DH": "HH HV",
    "DV": "VV VH",
    "HH": "HH",
    "VV": "VV",
    "HV": "HV",
    "VH": "VH",
}


def landsat_product_id(name: str, evidence: Iterable[str] = ()) -> str:
    """The full Collection 2 product id (`LC08_L2SP_028030_20200114_20200824_02_T1`) of a Landsat item name.

    Catalogues name one product differently: USGS items add `_SR`/`_ST` (one item per
    product family), Planetary Computer and Earth Search leave out the processing date. The
    date is restored from the first `evidence` text (asset hrefs, links...) that spells this
    product's full id; a name that is not a Landsat product id is returned as is.
    """
    m = LANDSAT_NAME.match(name)
    if not m:
        return name
    if m["processed"]:
        return m.group(0)
    full = re.compile(
        rf"{m['sensor']}{m['satellite']}_{m['level']}_{m['path']}{m['row']}_{m['date']}_\d{{8}}_"
        rf"{m['collection']}_{m['tier']}"
    )
    for text in evidence:
        if found := full.search(text):
            return found.group(0)
    return m.group(0)


def strip_extension(name: str) -> str:
    for ext in (".SAFE", ".safe", ".zip", ".SEN3", ".tar"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def constellation_of(name: str) -> Constellation | None:
    if name.startswith("S1"):
        return Constellation.SENTINEL1
    if name.startswith("S2"):
        return Constellation.SENTINEL2
    if LANDSAT_NAME.match(name) or re.match(r"^L[COTEM]0[89]", name):
        return Constellation.LANDSAT89
    return None


@dataclass(frozen=True, slots=True)
class NameInfo:
    constellation: Constellation | None
    satellite: str  # SENTINEL1A, SENTINEL2B, LANDSAT08 (upstream's spelling); "" when unknown
    product_key: str  # the name without what changes when a product is re-processed
    location: str  # S2 MGRS tile (T32UNG), Landsat path-row (033032); "" otherwise
    product_type: str  # SLC/GRD, S2MSI1C/S2MSI2A, L2SP...; "" when unknown
    relative_orbit: str
    absolute_orbit: str
    polarisations: str  # "VV VH" for S1 ("" otherwise)
    mode: str  # S1 sensor mode (IW, EW...)


def name_info(name: str) -> NameInfo:
    name = strip_extension(name)
    if m := S1_NAME.match(name):
        return NameInfo(
            constellation=Constellation.SENTINEL1,
            satellite="SENTINEL1" + m["mission"][2],
            product_key=name[: m.end("datatake")],
            location="",
            product_type=m["type"].rstrip("_"),
            relative_orbit="",
            absolute_orbit=str(int(m["orbit"])),
            polarisations=S1_POLARISATIONS.get(m["pol"], ""),
            mode=m["mode"],
        )
    if m := S2_NAME.match(name):
        return NameInfo(
            constellation=Constellation.SENTINEL2,
            satellite="SENTINEL2" + m["mission"][2],
            product_key=f"{m['mission']}_MSI{m['level']}_{m['start']}_R{m['orbit']}_{m['tile']}",
            location=m["tile"],
            product_type="S2MSI" + m["level"][1:],
            relative_orbit=str(int(m["orbit"])),
            absolute_orbit="",
            polarisations="",
            mode="",
        )
    if m := LANDSAT_NAME.match(name):
        return NameInfo(
            constellation=Constellation.LANDSAT89 if m["satellite"] in ("08", "09") else None,
            satellite="LANDSAT" + m["satellite"],
            product_key=f"{m['sensor']}{m['satellite']}_{m['level']}_{m['path']}{m['row']}_{m['date']}",
            location=f"{m['path']}{m['row']}",
            product_type=m["level"],
            relative_orbit=str(int(m["path"])),
            absolute_orbit="",
            polarisations="",
            mode="",
        )
    return NameInfo(constellation_of(name), "", name, "", "", "", "", "", "")


def placeholders(name: str) -> dict[str, str]:
    """Values for `{KEY}` placeholders of `annotations_urls` (upstream's keys)."""
    name = strip_extension(name)
    fields = {"SCENE": name}
    if m := S1_NAME.match(name):
        fields.update(
            MISSION_ID=m["mission"],
            MISSION_VERSION=m["mission"][2],
            MODE=m["mode"],
            PRODUCT_TYPE=m["type"],
            RESOLUTION=m["resolution"],
            PROCESSING_LEVEL=m["level"],
            PRODUCT_CLASS=m["klass"],
            POLARISATION=m["pol"],
            ORBIT=m["orbit"],
            MISSION=m["datatake"],
            UNIQUE_ID=m["unique"] or "",
        )
        start = m["start"]
    elif m := S2_NAME.match(name):
        fields.update(
            MISSION_ID=m["mission"],
            MISSION_VERSION=m["mission"][2],
            PRODUCT_LEVEL=m["level"],
            PDGS=m["baseline"][1:],
            ORBIT=m["orbit"],
            TILE=m["tile"][1:],
            LATITUDE_BAND=m["tile"][1:3],
            GRID_SQUARE=m["tile"][3],
            GRANULE_ID=m["tile"][4:],
            PRODUCT_DISC=m["discriminator"],
        )
        start = m["start"]
    else:
        return fields
    fields.update(DATE=start[:8], YEAR=start[:4], MONTH=start[4:6], DAY=start[6:8], TIME=start[9:15], HOUR=start[9:11])
    fields.update(MINUTE=start[11:13], SECOND=start[13:15])
    return fields


_PLACEHOLDER = re.compile(r"\{([A-Z_]+)\}")


def format_pattern(pattern: str, values: dict[str, str]) -> str:
    """Replace `{KEY}`s; KeyError names a placeholder this product has no value for."""

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(key)
        return values[key]

    return _PLACEHOLDER.sub(replace, pattern)
