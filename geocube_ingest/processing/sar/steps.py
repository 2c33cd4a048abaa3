"""The `xarray` engine's built-in steps for Sentinel-1 IW SLC bursts (graphs S1SlcBursts,
S1SlcBackscatter, S1SlcCoherence).

- `s1_slc_burst` (scene graph): the tile's burst split out of the downloaded product into a
  burst product (`split`), stored for the tile: the tile graphs of this burst and of the
  next acquisitions read it, not the multi-GB product.
- `s1_slc_backscatter`: one burst -> terrain-flattened gamma0 and its layover/shadow mask on
  a map grid (`backscatter`).
- `s1_slc_coherence`: the burst and an earlier one of the same place -> coherence and
  optionally the interferogram's phase on the same map grid (`coherence`).

Every input is a local file of the job's scratch folder (burst products the job imported)
or a storage URL (the DEM), so the steps run the same on any Dask worker. The science is in
the other modules of `processing.sar`; these wrappers only read arguments, pick the grid and
the DEM, and write COGs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

from geocube_ingest.errors import InvalidInput
from geocube_ingest.processing import cog
from geocube_ingest.processing.engines.xarray import StepArgs, _write, builtin
from geocube_ingest.processing.sar.split import BurstInfo, parse_polarisations, split_burst, unpack_burst

if TYPE_CHECKING:
    from geocube_ingest.processing.runner import StepContext

log = logging.getLogger(__name__)

MASK_NODATA = 255
# Map pixels per side of a coherence block (10 km at 20 m): bounds the chain's memory (~1 GB a block).
COHERENCE_BLOCK = 512
_COHERENCE_WINDOW = (4, 16)  # azimuth x range samples, as SNAP's default and coherence.DEFAULT_WINDOW
_WRITE_ARGS = ("dformat-out", "range-in")
_MAP_ARGS = ("resolution", "projection", "dem", "geoid", "bbox", "if-missing")


# ---------------------------------------------------------------- arguments


def _bbox(args: StepArgs) -> tuple[float, float, float, float] | None:
    """`bbox` as lon/lat `west,south,east,north` (empty: the whole burst)."""
    text = args.optional("bbox")
    if text is None:
        return None
    try:
        west, south, east, north = (float(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise InvalidInput(
            f"{args.step}: argument 'bbox' must be 'west,south,east,north' in degrees, got {text!r}"
        ) from None
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InvalidInput(f"{args.step}: argument 'bbox' {text!r} is not a lon/lat box (west < east, south < north)")
    return west, south, east, north


def _resolution(args: StepArgs) -> float:
    resolution = args.number("resolution", 20.0)
    # Finer than 1 m is below any S-1 IW resolution and would only make a huge grid of one burst.
    if not 1 <= resolution <= 10_000:
        raise InvalidInput(f"{args.step}: argument 'resolution' must be a positive number of metres, 1 to 10000")
    return resolution


def _projection(args: StepArgs) -> None:
    """Only UTM grids (the zone of the burst's centre) are made: say so for anything else."""
    projection = args.text("projection", "UTM").strip().upper()
    if projection != "UTM":
        raise InvalidInput(f"{args.step}: argument 'projection' {projection!r} is not supported (only 'UTM')")


def _geoid(args: StepArgs) -> str:
    geoid = args.text("geoid", "EGM96").strip()
    if geoid.upper() == "EGM96":
        return "EGM96"
    if geoid.lower() == "none":
        return "none"
    raise InvalidInput(f"{args.step}: argument 'geoid' must be EGM96 or none, got {geoid!r}")


def _polarisation(args: StepArgs, info: BurstInfo) -> str | None:
    """The step's polarisation; None (skip the step) when the burst lacks it and `if-missing` is skip."""
    wanted = parse_polarisations(args.text("polarisation"))
    if len(wanted) != 1:
        raise InvalidInput(f"{args.step}: argument 'polarisation' must be one of VV, VH, HH, HV")
    if wanted[0] in info.polarisations:
        return wanted[0]
    behaviour = args.text("if-missing", "fail").strip().lower()
    if behaviour not in ("fail", "skip"):
        raise InvalidInput(f"{args.step}: argument 'if-missing' must be fail or skip, got {behaviour!r}")
    if behaviour == "skip":
        log.info("%s: burst %s has no %s, nothing written", args.step, info.burst_id or info.product, wanted[0])
        return None
    raise InvalidInput(
        f"{args.step}: the burst has no polarisation {wanted[0]} (it has {', '.join(info.polarisations)})"
    )


@dataclass(frozen=True)
class _GridArgs:
    """The output grid's arguments, read (and checked) before any work."""

    resolution: float
    bbox: tuple[float, float, float, float] | None
    geoid: str

    @classmethod
    def read(cls, args: StepArgs) -> _GridArgs:
        _projection(args)
        return cls(_resolution(args), _bbox(args), _geoid(args))

    def grid(self, safe: Path, info: BurstInfo, polarisation: str) -> GeoBox:
        """A UTM grid over the burst (its part in `bbox`), pixels aligned on multiples of the resolution."""
        from geocube_ingest.processing.sar.backscatter import burst_grid
        from geocube_ingest.processing.sar.burst import burst_geometry

        geometry = burst_geometry(safe, info.swath, polarisation, info.burst_index - 1)
        return burst_grid(geometry, self.resolution, self.bbox)


# ---------------------------------------------------------------- burst products


def _dem_url(args: StepArgs, context: StepContext) -> str:
    """`dem` (a URL or path the operator allows) or the configured default."""
    from geocube_ingest.processing.sar.dem import check_dem_url, default_dem_url

    return check_dem_url(args.optional("dem") or default_dem_url(context.settings), context.settings)


def _dem(args: StepArgs, grid: GeoBox, context: StepContext, geoid: str) -> xr.DataArray:
    """Ellipsoidal heights over the output grid (plus a margin) at the output's pixel: coregistration
    needs the geometry's smooth variation, not the facets."""
    from geocube_ingest.processing.sar.dem import load_dem

    west, south, east, north = grid.geographic_extent.boundingbox
    margin = 0.02  # degrees: the geocoding of the grid's corners and the radar window's margins
    bounds = (west - margin, south - margin, east + margin, north + margin)
    resolution = min(abs(grid.resolution.x), abs(grid.resolution.y))
    return load_dem(_dem_url(args, context), bounds, geoid=geoid, resolution_m=resolution, settings=context.settings)


def _write_mask(mask: xr.DataArray, output: str, context: StepContext) -> None:
    values = mask.fillna(MASK_NODATA).astype("uint8") if mask.dtype.kind == "f" else mask.astype("uint8")
    values = values.rio.write_nodata(MASK_NODATA, encoded=False)
    values.attrs = {k: v for k, v in values.attrs.items() if k not in ("scale_factor", "add_offset")}
    cog.write_cog(
        values,
        context.workspace.destination(Path(output)),
        nodata=MASK_NODATA,
        resampling=cog.CATEGORICAL,
        settings=context.settings,
    )


def _on_disk_grid(data: xr.DataArray) -> xr.DataArray:
    """rioxarray's view of an odc-geo array: its CRS and transform written as GDAL needs them."""
    geobox = data.odc.geobox
    if geobox is None:
        raise InvalidInput("the processing returned an array without a map grid")
    out: xr.DataArray = data.rio.write_crs(geobox.crs.to_wkt())
    return cast("xr.DataArray", out.rio.write_transform(geobox.affine))


# ---------------------------------------------------------------- steps


@builtin(
    "s1_slc_burst",
    required=("product", "swath", "burst", "output"),
    optional=("polarisations", "burst-id"),
)
def s1_slc_burst(args: StepArgs, context: StepContext) -> None:
    """One burst of an IW SLC product as a burst product (zip: the SAFE's metadata, its lines only)."""
    swath = args.text("swath", "")
    if not swath:
        raise InvalidInput(
            f"{args.step}: the tile has no swath: Sentinel-1 SLC scenes are split into burst tiles "
            "only when the scene graph is not CopyProductToStorage"
        )
    burst = args.number("burst")
    if burst != int(burst) or burst < 1:
        raise InvalidInput(f"{args.step}: argument 'burst' must be the burst's 1-based number, got {burst}")
    info = split_burst(
        Path(args.text("product")),
        swath,
        int(burst),
        Path(args.text("output")),
        parse_polarisations(args.optional("polarisations")),
        burst_id=args.text("burst-id", ""),
    )
    log.info("burst %d of %s %s split (%s)", info.burst_index, info.product, info.swath, json.dumps(info.polarisations))


@builtin(
    "s1_slc_backscatter",
    required=("burst", "polarisation", "output"),
    optional=("mask-output", "db", *_MAP_ARGS, *_WRITE_ARGS),
)
def s1_slc_backscatter(args: StepArgs, context: StepContext) -> None:
    """Terrain-flattened gamma0 (RTC, thermal noise removed) of one polarisation of a burst, on a UTM grid."""
    safe, info = unpack_burst(Path(args.text("burst")), context.work_dir)
    polarisation = _polarisation(args, info)
    if polarisation is None:
        return
    grid_args = _GridArgs.read(args)
    db = args.flag("db", True)

    from geocube_ingest.processing.sar.backscatter import backscatter

    grid = grid_args.grid(safe, info, polarisation)
    # The DEM is read chunk by chunk, 3x finer than the output (terrain flattening needs the facets).
    result = backscatter(
        safe,
        info.swath,
        polarisation,
        info.burst_index - 1,
        _dem_url(args, context),
        grid,
        db=db,
        geoid=grid_args.geoid,
        settings=context.settings,
    )
    gamma0 = _on_disk_grid(result["gamma0_rtc"])
    _write(gamma0.where(np.isfinite(gamma0)), args, context, default_range=(-50.0, 10.0))
    mask_output = args.optional("mask-output")
    if mask_output is not None:
        _write_mask(_on_disk_grid(result["mask"]), mask_output, context)


@builtin(
    "s1_slc_coherence",
    required=("burst", "previous", "polarisation", "output"),
    optional=("reference", "with", "window", "phase", "phase-output", "deramp", *_MAP_ARGS, *_WRITE_ARGS),
)
def s1_slc_coherence(args: StepArgs, context: StepContext) -> None:
    """Coherence of a burst with its previous (or reference) acquisition, coregistered by geometry, on a UTM grid."""
    other_arg = _other(args)
    safe, info = unpack_burst(Path(args.text("burst")), context.work_dir)
    other_safe, other_info = unpack_burst(Path(args.text(other_arg)), context.work_dir)
    if (other_info.swath, other_info.burst_id) != (info.swath, info.burst_id):
        raise InvalidInput(
            f"{args.step}: {other_arg} is burst {other_info.burst_id or other_info.swath}, "
            f"not {info.burst_id or info.swath}: not the same place"
        )
    polarisation = _polarisation(args, info)
    if polarisation is None:
        return
    if polarisation not in other_info.polarisations:
        raise InvalidInput(f"{args.step}: the {other_arg} burst has no polarisation {polarisation}")
    grid_args = _GridArgs.read(args)
    window = args.window(_COHERENCE_WINDOW)
    phase = args.flag("phase", False)
    deramp = args.flag("deramp", True)

    from geocube_ingest.processing.sar.burst import burst_geometry
    from geocube_ingest.processing.sar.coherence import coherence

    grid = grid_args.grid(safe, info, polarisation)
    layers = ["coherence", "phase"] if phase else ["coherence"]
    mosaic = {name: np.full(grid.shape, np.nan, dtype="float32") for name in layers}
    footprint = burst_geometry(safe, info.swath, polarisation, info.burst_index - 1).footprint
    for rows, cols in _blocks(grid):
        part = grid[rows, cols]
        if not part.geographic_extent.geom.intersects(footprint):
            continue
        # The earlier acquisition is the geometric reference: the phase is earlier minus this one.
        try:
            result = coherence(
                other_safe,
                safe,
                info.swath,
                polarisation,
                other_info.burst_index - 1,
                info.burst_index - 1,
                _dem(args, part, context, grid_args.geoid),
                part,
                window=window,
                phase=phase,
                deramp=deramp,
            )
        except InvalidInput as exc:
            if "does not see the grid" in str(exc):
                continue  # a corner of the map grid beyond the burst's valid samples
            raise
        for name in layers:
            mosaic[name][rows, cols] = result[name].values
    coords = xr_coords(grid)
    values = {name: xr.DataArray(array, coords=coords, dims=("y", "x")) for name, array in mosaic.items()}
    _write(_on_disk_grid(values["coherence"]), args, context, default_range=(0.0, 1.0))
    phase_output = args.optional("phase-output")
    if phase and phase_output is not None:
        cog.write_cog(
            _on_disk_grid(values["phase"]),
            context.workspace.destination(Path(phase_output)),
            nodata=float("nan"),
            settings=context.settings,
        )


def _blocks(grid: GeoBox) -> list[tuple[slice, slice]]:
    """The grid cut in squares of COHERENCE_BLOCK pixels: the coherence chain holds a block's radar window in memory."""
    size = COHERENCE_BLOCK
    ny, nx = grid.shape
    return [
        (slice(y, min(y + size, ny)), slice(x, min(x + size, nx)))
        for y in range(0, ny, size)
        for x in range(0, nx, size)
    ]


def _other(args: StepArgs) -> str:
    """`previous` or `reference`: which earlier burst `with` asks for."""
    choice = args.text("with", "previous").strip().lower()
    if choice not in ("previous", "reference"):
        raise InvalidInput(f"{args.step}: argument 'with' must be previous or reference, got {choice!r}")
    if choice == "reference" and args.optional("reference") is None:
        raise InvalidInput(f"{args.step}: 'with' is reference but no 'reference' burst is given")
    return choice
