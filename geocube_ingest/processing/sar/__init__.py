"""Sentinel-1 TOPS SLC bursts processed in Python (xarray-sentinel, sarsen, numpy/scipy).

Public API (stable; units are in each docstring):

- `burst`: `BurstGeometry` (timing, orbit, TOPS polynomials, valid window, footprint),
  `burst_geometry(safe, swath, pol, burst_index)`, `burst_count(safe, swath, pol)`,
  `open_burst(safe, swath, pol, burst_index, chunks=...)` -> complex64 (line, pixel) DataArray
  (burst-local `line`, swath `pixel`; coords `azimuth_time`, `slant_range_time`), `valid_mask`,
  `Polynomial` (annotation range polynomials: Doppler centroid Hz, FM rate Hz/s).
- `radiometry`: `calibration_lut(safe, swath, pol, burst_index, kind)` (sigma0/beta0/gamma0/dn,
  amplitude LUT A, lazy on the burst's (line, pixel)), `calibration_at(geometry, kind, lines,
  pixels)` (the same at any lines x pixels), `noise_lut(...)` (noise power, range x
  azimuth LUT), `calibrated_intensity(slc, lut, noise)`; terrain flattening: `terrain_facets`
  (per DEM point: line, pixel, gamma area, incidence, local incidence, layover, shadow),
  `look_bins`, `normalised_gamma_area` (flat terrain: cot theta), `layover_shadow_mask`
  (bits LAYOVER=1, SHADOW=2; 255 no data).
- `dem`: `load_dem(url, bounds_lonlat, geoid="EGM96"|"none", resolution_m=None)` ->
  ellipsoidal heights (float64 m, h = H + N) on a UTM GeoBox; `load_dem_on(url, geobox)`;
  `geoid_undulation(lon, lat)` (EGM96 N, m); `check_dem_url`; `default_dem_url` (settings
  `processing.dem_url`).
- `geocoding`: `backward_geocode_points(geometry, ecef)` -> `RadarCoordinates` (zero-Doppler
  time, two-way slant range time, burst line/pixel, look vector, satellite state);
  `lonlat_to_ecef`, `map_to_ecef`, `incidence_angle`, `local_incidence_angle` (degrees),
  `move_to_height`.
- `backscatter`: `backscatter(safe, swath, pol, burst_index, dem, grid, db=True,
  quantity="gamma0_rtc", dem_factor=3, margin_m=300, noise=True, chunk=256, geoid="EGM96")`
  -> Dataset(<quantity> float32 (dB or linear, NaN no data), mask uint8) on the GeoBox, one
  Dask task per chunk; `dem` is a DataArray of ellipsoidal heights or a DEM URL read per
  chunk; `burst_grid(geometry, resolution_m, bounds_lonlat=None)` -> UTM GeoBox.

Settings: `processing.dem_url` (default DEM when a graph config gives none) and
`processing.dem_geoid` ("EGM96" or "none").

Conventions: `line` is burst-local (0 … lines-1), `pixel` is the swath sample; azimuth times
are zero-Doppler `datetime64[ns]` UTC; slant range times are two-way seconds; ECEF is WGS84
(EPSG:4978) in metres; heights are above the WGS84 ellipsoid.
"""

from geocube_ingest.processing.sar.backscatter import backscatter, burst_grid
from geocube_ingest.processing.sar.burst import (
    BurstGeometry,
    Polynomial,
    burst_count,
    burst_geometry,
    open_burst,
    valid_mask,
)
from geocube_ingest.processing.sar.dem import default_dem_url, geoid_undulation, load_dem, load_dem_on
from geocube_ingest.processing.sar.geocoding import backward_geocode_points
from geocube_ingest.processing.sar.radiometry import calibrated_intensity, calibration_lut, noise_lut

__all__ = [
    "BurstGeometry",
    "Polynomial",
    "backscatter",
    "backward_geocode_points",
    "burst_count",
    "burst_geometry",
    "burst_grid",
    "calibrated_intensity",
    "calibration_lut",
    "default_dem_url",
    "geoid_undulation",
    "load_dem",
    "load_dem_on",
    "noise_lut",
    "open_burst",
    "valid_mask",
]
