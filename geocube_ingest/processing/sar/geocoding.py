"""Backward geocoding: from ground points (ECEF) to a burst's zero-Doppler time, slant range, line and pixel.

sarsen solves the zero-Doppler equation (Newton on the orbit polynomial); this module feeds it
plain arrays, tightens its stopping rule (sarsen stops at 1 m along track, ~0.07 line; here
1 mm), and derives what radiometry needs from the same solution: the look vector and the
ellipsoid incidence angle.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import xarray as xr
from pyproj import CRS, Transformer
from sarsen.geocoding import backward_geocode

from geocube_ingest.processing.sar.burst import ONE_SECOND, SPEED_OF_LIGHT, BurstGeometry

ECEF = "EPSG:4978"
_TO_ECEF = Transformer.from_crs("EPSG:4979", ECEF, always_xy=True)
_FROM_ECEF = Transformer.from_crs(ECEF, "EPSG:4979", always_xy=True)
_ALONG_TRACK_TOLERANCE_M = 1e-3
_WGS84_E2 = 6.69437999014e-3  # first eccentricity squared


@dataclass(frozen=True)
class RadarCoordinates:
    """Backward-geocoded points (all arrays of the points' shape; vectors have a last axis of 3)."""

    azimuth_time: npt.NDArray[np.datetime64]  # zero-Doppler time, datetime64[ns]
    slant_range_time: npt.NDArray[np.float64]  # two-way s
    line: npt.NDArray[np.float64]  # burst-local fractional line
    pixel: npt.NDArray[np.float64]  # fractional swath sample
    look: npt.NDArray[np.float64]  # unit vector from the point to the satellite (ECEF)
    satellite_velocity: npt.NDArray[np.float64]  # ECEF m/s at the zero-Doppler time
    satellite_position: npt.NDArray[np.float64]  # ECEF m at the zero-Doppler time

    @property
    def slant_range(self) -> npt.NDArray[np.float64]:
        """One-way slant range (m)."""
        return self.slant_range_time * SPEED_OF_LIGHT / 2


def lonlat_to_ecef(lon: npt.ArrayLike, lat: npt.ArrayLike, height: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """WGS84 ECEF (m, last axis x/y/z) of lon/lat (degrees) and ellipsoidal height (m)."""
    lon_a, lat_a, h_a = np.broadcast_arrays(lon, lat, height)
    x, y, z = _TO_ECEF.transform(lon_a, lat_a, h_a)
    return np.stack([x, y, z], axis=-1).astype("float64")


def ecef_to_lonlat(ecef: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], ...]:
    """lon, lat (degrees) and ellipsoidal height (m) of ECEF points (last axis x/y/z)."""
    points = np.asarray(ecef, dtype="float64")
    lon, lat, h = _FROM_ECEF.transform(points[..., 0], points[..., 1], points[..., 2])
    return np.asarray(lon), np.asarray(lat), np.asarray(h)


@lru_cache(maxsize=16)
def _map_to_ecef(crs: str) -> Transformer:
    """One transformation from a projected CRS with ellipsoidal heights to ECEF."""
    return Transformer.from_crs(CRS.from_user_input(crs).to_3d(), ECEF, always_xy=True)


def map_to_ecef(x: npt.ArrayLike, y: npt.ArrayLike, height: npt.ArrayLike, crs: str) -> npt.NDArray[np.float64]:
    """ECEF of projected map points (x, y in `crs`) with ellipsoidal heights (m)."""
    x_a, y_a, h_a = np.broadcast_arrays(x, y, height)
    ex, ey, ez = _map_to_ecef(str(crs)).transform(x_a, y_a, h_a)
    return np.stack([ex, ey, ez], axis=-1).astype("float64")


def backward_geocode_points(
    geometry: BurstGeometry, ecef: npt.ArrayLike, *, guess: npt.ArrayLike | None = None
) -> RadarCoordinates:
    """Zero-Doppler time and slant range of ECEF points (last axis x/y/z) for the burst's orbit.

    `guess` (datetime64) seeds Newton's method; the burst's mid time by default, which
    converges in a few iterations anywhere within the orbit's span.
    """
    points = np.asarray(ecef, dtype="float64")
    shape = points.shape[:-1]
    flat = points.reshape(-1, 3)
    orbit = geometry.orbit
    dem_ecef = xr.DataArray(flat.T, dims=("axis", "point"), coords={"axis": [0, 1, 2]})
    if guess is None:
        seed: xr.DataArray | float = float((geometry.azimuth_time_mid - orbit.epoch) / ONE_SECOND)
    else:
        times = np.broadcast_to(np.asarray(guess, dtype="datetime64[ns]"), shape).reshape(-1)
        seed = xr.DataArray((times - orbit.epoch) / ONE_SECOND, dims=("point",))
    result = backward_geocode(
        dem_ecef, orbit, seed, zero_doppler_distance=_ALONG_TRACK_TOLERANCE_M, method="newton", maxiter=20
    )
    azimuth_time = result.azimuth_time.values.astype("datetime64[ns]")
    distance = result.dem_distance.transpose("point", "axis").values  # satellite -> point
    velocity = result.satellite_velocity.transpose("point", "axis").values
    slant_range = np.linalg.norm(distance, axis=-1)
    slant_range_time = 2 * slant_range / SPEED_OF_LIGHT
    look = -distance / slant_range[:, None]
    position = flat - distance
    return RadarCoordinates(
        azimuth_time=azimuth_time.reshape(shape),
        slant_range_time=slant_range_time.reshape(shape),
        line=geometry.line_of(azimuth_time).reshape(shape),
        pixel=geometry.pixel_of(slant_range_time).reshape(shape),
        look=look.reshape(*shape, 3),
        satellite_velocity=velocity.reshape(*shape, 3),
        satellite_position=position.reshape(*shape, 3),
    )


def ellipsoid_normal(ecef: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Unit normal of the WGS84 ellipsoid (geodetic up) at ECEF points.

    The gradient of x^2/a^2 + y^2/a^2 + z^2/b^2 at the point: exact on the ellipsoid, within
    1e-6 rad up to 10 km above it.
    """
    points = np.asarray(ecef, dtype="float64")
    gradient = points * np.array([1.0, 1.0, 1.0 / (1.0 - _WGS84_E2)])
    return np.asarray(gradient / np.linalg.norm(gradient, axis=-1, keepdims=True), dtype="float64")


def incidence_angle(ecef: npt.ArrayLike, look: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Ellipsoid incidence angle (degrees): between the geodetic up and the look vector (point -> satellite)."""
    up = ellipsoid_normal(ecef)
    cosine = np.clip(np.sum(up * np.asarray(look), axis=-1), -1.0, 1.0)
    return np.asarray(np.rad2deg(np.arccos(cosine)), dtype="float64")


def local_incidence_angle(normal: npt.ArrayLike, look: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Local incidence angle (degrees) between a surface's unit normal and the look vector; > 90 facing away."""
    cosine = np.clip(np.sum(np.asarray(normal) * np.asarray(look), axis=-1), -1.0, 1.0)
    return np.asarray(np.rad2deg(np.arccos(cosine)), dtype="float64")


def move_to_height(
    ecef: npt.ArrayLike, radar: RadarCoordinates, height: npt.ArrayLike, *, iterations: int = 4
) -> npt.NDArray[np.float64]:
    """The points with the same zero-Doppler time and slant range as `ecef` but at ellipsoidal `height` (m).

    Each point slides along its range circle (the zero-Doppler plane at constant range) until
    its height matches: what the IPF does when it evaluates a table at its reference terrain
    height instead of the terrain's.
    """
    points = np.array(ecef, dtype="float64")
    target = np.broadcast_to(np.asarray(height, dtype="float64"), points.shape[:-1])
    satellite = radar.satellite_position
    along = radar.satellite_velocity / np.linalg.norm(radar.satellite_velocity, axis=-1, keepdims=True)
    for _ in range(iterations):
        radial = points - satellite
        slant = np.linalg.norm(radial, axis=-1, keepdims=True)
        tangent = np.cross(along, radial / slant)
        _, _, h = ecef_to_lonlat(points)
        rate = slant[..., 0] * np.sum(tangent * ellipsoid_normal(points), axis=-1)  # dh / d(angle)
        angle = ((target - h) / rate)[..., None]
        points = satellite + np.cos(angle) * radial + np.sin(angle) * slant * tangent
    return points
