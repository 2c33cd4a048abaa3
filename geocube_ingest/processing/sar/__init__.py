"""Sentinel-1 TOPS SLC bursts processed in Python (xarray-sentinel, sarsen, numpy/scipy).

Public API (stable; units are in each docstring):

- `burst`: `BurstGeometry` (timing, orbit, TOPS polynomials, valid window, footprint),
  `burst_geometry(safe, swath, pol, burst_index)`, `burst_count(safe, swath, pol)`,
  `open_burst(safe, swath, pol, burst_index, chunks=...)` -> complex64 (line, pixel) DataArray
  (burst-local `line`, swath `pixel`; coords `azimuth_time`, `slant_range_time`), `valid_mask`,
  `Polynomial` (annotation range polynomials: Doppler centroid Hz, FM rate Hz/s).
- `radiometry`: `calibration_lut(safe, swath, pol, burst_index, kind)` (sigma0/beta0/gamma0/dn,
  amplitude LUT A), `noise_lut(...)` (noise power, range x azimuth LUT), `calibrated_intensity`;
  terrain flattening (`normalised_gamma_area`) and the layover/shadow mask.
- `dem`: `load_dem(url, bounds_lonlat, geoid="EGM96"|"none", resolution_m=None)` ->
  ellipsoidal heights (float64 m, h = H + N) on a UTM GeoBox; `load_dem_on(url, geobox)`;
  `geoid_undulation(lon, lat)` (EGM96 N, m); `check_dem_url`; `default_dem_url` (settings
  `processing.dem_url`).
- `geocoding`: backward geocoding of map/DEM points to (azimuth_time, slant_range_time) and
  burst (line, pixel), incidence angles.
- `backscatter`: `backscatter(safe, swath, pol, burst_index, dem, grid, db=...)` ->
  Dataset(gamma0, mask) on a map GeoBox; `burst_grid(geometry, resolution, bounds_lonlat)`.

Conventions: `line` is burst-local (0 … lines-1), `pixel` is the swath sample; azimuth times
are zero-Doppler `datetime64[ns]` UTC; slant range times are two-way seconds; ECEF is WGS84
(EPSG:4978) in metres; heights are above the WGS84 ellipsoid.
"""

from geocube_ingest.processing.sar.burst import (
    BurstGeometry,
    Polynomial,
    burst_count,
    burst_geometry,
    open_burst,
    valid_mask,
)
from geocube_ingest.processing.sar.dem import geoid_undulation, load_dem, load_dem_on

__all__ = [
    "BurstGeometry",
    "Polynomial",
    "burst_count",
    "burst_geometry",
    "geoid_undulation",
    "load_dem",
    "load_dem_on",
    "open_burst",
    "valid_mask",
]
