"""Digital elevation models for SAR geometry: ellipsoidal heights on a projected grid.

Orbits and backward geocoding live in WGS84 ECEF, so heights must be above the WGS84
ellipsoid. Global DEMs (Copernicus GLO-30, SRTM) give heights above the EGM96 geoid; the
difference N (geoid undulation) reaches ±100 m, so `h = H + N` (ellipsoidal = orthometric +
undulation) is applied with the EGM96 15' grid shipped by dem-stitcher, interpolated
bilinearly (NGA's own interpolation of that grid is bilinear too).

A DEM URL comes from a graph's config or `processing.dem_url`: it is input, so it is checked
with the operator's rules (`access.check_link`) before anything is opened, and read through
`storage.filesystem` (credentials from settings, never from the URL).
"""

from __future__ import annotations

import importlib.resources
import math
from functools import lru_cache
from typing import cast

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.windows
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords, xr_reproject
from pyproj import Transformer
from scipy.interpolate import RegularGridInterpolator

from geocube_ingest.access import NotAllowed, check_link, check_storage_uri
from geocube_ingest.errors import InvalidInput
from geocube_ingest.settings import Settings, get_settings

GEOIDS = ("EGM96", "none")


class NotCovered(InvalidInput):
    """The DEM has no pixel under the requested area."""


_MARGIN_DEG = 0.01  # read a little beyond the bounds so that bilinear resampling has neighbours


@lru_cache(maxsize=1)
def _egm96() -> RegularGridInterpolator:
    path = importlib.resources.files("dem_stitcher") / "data/egm96_15.gtx"
    with rasterio.open(str(path)) as src:
        grid = src.read(1).astype("float64")
        west, north = src.transform.c + src.res[0] / 2, src.transform.f - src.res[1] / 2
        lat = north - src.res[1] * np.arange(src.height)
        lon = west + src.res[0] * np.arange(src.width)
    # Rows north to south: flip for increasing latitude; repeat the first column at +180 to wrap.
    grid = np.concatenate([grid, grid[:, :1]], axis=1)[::-1]
    lon = np.append(lon, lon[0] + 360.0)
    return RegularGridInterpolator((lat[::-1], lon), grid, method="linear")


def geoid_undulation(lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """EGM96 geoid height N (m above the WGS84 ellipsoid) at lon/lat (degrees), bilinear on the 15' grid."""
    lon_a, lat_a = np.broadcast_arrays(np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64"))
    wrapped = (lon_a + 180.0) % 360.0 - 180.0
    interp = _egm96()
    points = np.stack([np.clip(lat_a, -90.0, 90.0).ravel(), wrapped.ravel()], axis=-1)
    return np.asarray(interp(points).reshape(lon_a.shape), dtype="float64")


def utm_crs(lon: float, lat: float) -> str:
    """EPSG code of the WGS84 UTM zone holding lon/lat."""
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def utm_geobox(bounds_lonlat: tuple[float, float, float, float], resolution_m: float, crs: str | None = None) -> GeoBox:
    """A north-up grid covering the lon/lat bounds, in `crs` (default: the UTM zone of the bounds' centre)."""
    west, south, east, north = bounds_lonlat
    crs = crs or utm_crs((west + east) / 2, (south + north) / 2)
    to_utm = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    lons = np.array([west, east, east, west, (west + east) / 2, (west + east) / 2])
    lats = np.array([south, south, north, north, south, north])
    x, y = to_utm.transform(lons, lats)
    return GeoBox.from_bbox((x.min(), y.min(), x.max(), y.max()), crs, resolution=resolution_m)


def check_dem_url(url: str, settings: Settings | None = None) -> str:
    """The URL itself when the operator allows reading it, else InvalidInput naming it."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput("dem_url: a DEM URL or path is required (graph config `dem_url` or processing.dem_url)")
    settings = settings or get_settings()
    try:
        # The operator's storage is readable by every worker: a DEM put there is allowed too.
        return check_storage_uri(url, settings, what="dem_url")
    except NotAllowed:
        return check_link(url, settings, what="dem_url")


def default_dem_url(settings: Settings | None = None) -> str:
    """The operator's DEM (`processing.dem_url`); InvalidInput when none is configured."""
    url = (settings or get_settings()).processing.dem_url
    if not url:
        raise InvalidInput("no DEM: the graph config gives no dem_url and processing.dem_url is not set")
    return url


def _wkt(geobox: GeoBox) -> str:
    if geobox.crs is None:
        raise InvalidInput("the grid has no CRS")
    return str(geobox.crs.to_wkt())


def _source_window(src: rasterio.io.DatasetReader, geobox: GeoBox) -> xr.DataArray:
    """The part of the source DEM under `geobox` (plus a margin), as a DataArray on its own grid."""
    to_src = Transformer.from_crs(_wkt(geobox), src.crs.to_wkt(), always_xy=True)
    bbox = geobox.extent.boundingbox
    xs = np.linspace(bbox.left, bbox.right, 21)
    ys = np.linspace(bbox.bottom, bbox.top, 21)
    gx, gy = np.meshgrid(xs, ys)
    sx, sy = to_src.transform(gx.ravel(), gy.ravel())
    margin = _MARGIN_DEG if src.crs.is_geographic else 100.0
    margin = max(margin, 3 * max(abs(src.res[0]), abs(src.res[1])))
    window = rasterio.windows.from_bounds(
        float(np.min(sx)) - margin,
        float(np.min(sy)) - margin,
        float(np.max(sx)) + margin,
        float(np.max(sy)) + margin,
        src.transform,
    )
    window = window.round_offsets().round_lengths()  # offsets floored; the margin covers the rounding
    full = rasterio.windows.Window(0, 0, src.width, src.height)
    try:
        window = window.intersection(full)
    except rasterio.errors.WindowError:
        raise NotCovered(
            f"DEM {src.name} does not cover the area {geobox.extent.to_crs('EPSG:4326').boundingbox}"
        ) from None
    data = src.read(1, window=window, masked=True).astype("float64").filled(np.nan)
    src_box = GeoBox((int(window.height), int(window.width)), src.window_transform(window), src.crs)
    return xr.DataArray(data, coords=xr_coords(src_box), dims=src_box.dimensions, name="dem")


def load_dem_on(
    url_or_path: str, geobox: GeoBox, *, geoid: str = "EGM96", settings: Settings | None = None
) -> xr.DataArray:
    """Ellipsoidal heights (float64 m, NaN where the DEM has none) of the DEM resampled bilinearly on `geobox`.

    `geoid` names the DEM's vertical datum: "EGM96" adds N (h = H + N), "none" takes the heights
    as ellipsoidal already.
    """
    if geoid not in GEOIDS:
        raise InvalidInput(f"geoid {geoid!r}: expected one of {', '.join(GEOIDS)}")
    url = check_dem_url(url_or_path, settings)
    from geocube_ingest.storage import filesystem  # storage imports settings; keep import light

    fs, path = filesystem(url, settings)
    with rasterio.open(path, opener=fs) as src:
        if src.crs is None:
            raise InvalidInput(f"DEM {url!r} has no CRS")
        source = _source_window(src, geobox)
    heights = xr_reproject(source.odc.assign_crs(source.odc.crs or src.crs), geobox, resampling="bilinear")
    heights = heights.astype("float64")
    if geoid == "EGM96":
        heights = heights + _undulation_on(geobox)
    heights.attrs.update(units="m", long_name="height above the WGS84 ellipsoid", vertical_datum_source=geoid)
    return cast(xr.DataArray, heights.rename("dem"))


def _undulation_on(geobox: GeoBox) -> xr.DataArray:
    coords = xr_coords(geobox)
    x, y = np.meshgrid(coords["x"].values, coords["y"].values)
    lon, lat = Transformer.from_crs(_wkt(geobox), "EPSG:4326", always_xy=True).transform(x, y)
    return xr.DataArray(geoid_undulation(lon, lat), coords=coords, dims=("y", "x"))


def load_dem(
    url_or_path: str,
    bounds_lonlat: tuple[float, float, float, float],
    *,
    geoid: str = "EGM96",
    resolution_m: float | None = None,
    settings: Settings | None = None,
) -> xr.DataArray:
    """Ellipsoidal heights (float64 m) over lon/lat bounds on a UTM grid (zone of the bounds' centre).

    `resolution_m` defaults to the DEM's own pixel size (in metres at the area's latitude).
    """
    west, south, east, north = bounds_lonlat
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InvalidInput(f"bounds {bounds_lonlat!r}: expected (west, south, east, north) in degrees")
    if resolution_m is None:
        resolution_m = _native_resolution_m(url_or_path, (south + north) / 2, settings)
    if not resolution_m > 0:
        raise InvalidInput(f"resolution_m {resolution_m!r}: a positive number of metres is expected")
    return load_dem_on(url_or_path, utm_geobox(bounds_lonlat, resolution_m), geoid=geoid, settings=settings)


def _native_resolution_m(url: str, lat: float, settings: Settings | None) -> float:
    from geocube_ingest.storage import filesystem

    fs, path = filesystem(check_dem_url(url, settings), settings)
    with rasterio.open(path, opener=fs) as src:
        res_x, res_y = abs(src.res[0]), abs(src.res[1])
        if src.crs is not None and src.crs.is_geographic:  # the coarser of the two spacings, in metres
            return float(max(res_x * 111_320.0 * max(math.cos(math.radians(lat)), 0.1), res_y * 111_320.0))
        return float(max(res_x, res_y))


def flat_dem(geobox: GeoBox, height: float | npt.ArrayLike = 0.0) -> xr.DataArray:
    """A DEM of constant (or given) ellipsoidal height on `geobox`: for tests and sea-level processing."""
    data = np.broadcast_to(np.asarray(height, dtype="float64"), geobox.shape).copy()
    out = xr.DataArray(data, coords=xr_coords(geobox), dims=("y", "x"), name="dem")
    out.attrs.update(units="m", long_name="height above the WGS84 ellipsoid")
    return out
