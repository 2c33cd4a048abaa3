"""The `xarray` engine: built-in steps, registered by name, on lazy xarray/Dask arrays.

A step's `command` names a built-in; its `args` (upstream's arg types, resolved to
strings) are its parameters. Every built-in reads with rioxarray (GeoTIFF, COG, JP2,
`/vsizip/` paths inside a zipped SAFE), puts data on a grid, computes lazily and writes
COGs through the Dask cluster, so memory stays bounded whatever the raster size.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import dask.array as darr
import numexpr
import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox
from rasterio.enums import Resampling

from geocube_ingest.errors import InvalidInput
from geocube_ingest.index.base import DFormat
from geocube_ingest.processing import cog, raster, s1, s2

if TYPE_CHECKING:
    from geocube_ingest.processing.graph import Step
    from geocube_ingest.processing.runner import StepContext
    from geocube_ingest.settings import Settings


# Estimation windows (samples a side): larger ones only make a step hold huge halos in memory.
MAX_WINDOW = 255


class StepArgs:
    """A built-in's arguments, with readable errors naming the step and the argument."""

    def __init__(self, step: str, values: dict[str, str]):
        self.step = step
        self.values = values

    def _bad(self, name: str, why: str) -> InvalidInput:
        return InvalidInput(f"{self.step}: argument {name!r} {why}")

    def text(self, name: str, default: str | None = None) -> str:
        value = self.values.get(name)
        if value is None or value == "":
            if default is None:
                raise self._bad(name, "is required")
            return default
        return value

    def optional(self, name: str) -> str | None:
        value = self.values.get(name)
        return None if value in (None, "") else value

    def number(self, name: str, default: float | None = None) -> float:
        value = self.optional(name)
        if value is None:
            if default is None:
                raise self._bad(name, "is required")
            return default
        try:
            return float(value)
        except ValueError:
            raise self._bad(name, f"must be a number, got {value!r}") from None

    def flag(self, name: str, default: bool) -> bool:
        value = self.optional(name)
        if value is None:
            return default
        if value.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if value.strip().lower() in ("0", "false", "no", "off"):
            return False
        raise self._bad(name, f"must be true or false, got {value!r}")

    def dformat(self) -> DFormat | None:
        value = self.optional("dformat-out")
        return None if value is None else DFormat.parse(value)

    def real_range(self, default: tuple[float, float]) -> tuple[float, float]:
        return raster.parse_range(self.optional("range-in"), default)

    def window(self, default: tuple[int, int]) -> tuple[int, int]:
        value = self.optional("window")
        if value is None:
            return default
        try:
            parts = [int(p) for p in value.replace("x", ",").split(",")]
        except ValueError:
            raise self._bad("window", f"must be 'rows,cols', got {value!r}") from None
        wy, wx = (parts * 2)[:2] if len(parts) == 1 else parts[:2]
        if not (1 <= wy <= MAX_WINDOW and 1 <= wx <= MAX_WINDOW):
            raise self._bad("window", f"sizes must be 1 to {MAX_WINDOW}, got {value!r}")
        return wy, wx


@dataclass(frozen=True)
class Builtin:
    name: str
    run: Callable[[StepArgs, StepContext], None]
    required: tuple[str, ...]
    optional: tuple[str, ...]
    summary: str
    # Other arguments are named inputs (band_math variables).
    variables: bool = False


BUILTINS: dict[str, Builtin] = {}
_WRITE_ARGS = ("dformat-out", "range-in", "exponent")
_GRID_ARGS = ("projection", "resolution", "resampling")


def builtin(
    name: str,
    *,
    required: tuple[str, ...] = (),
    optional: tuple[str, ...] = (),
    summary: str = "",
    variables: bool = False,
) -> Callable[[Callable[[StepArgs, StepContext], None]], Callable[[StepArgs, StepContext], None]]:
    def register(func: Callable[[StepArgs, StepContext], None]) -> Callable[[StepArgs, StepContext], None]:
        BUILTINS[name] = Builtin(
            name, func, required, optional, summary or (func.__doc__ or "").split("\n")[0], variables
        )
        return func

    return register


class XarrayEngine:
    name = "xarray"

    def run(self, step: Step, args: dict[str, str], context: StepContext) -> None:
        entry = BUILTINS.get(step.command)
        if entry is None:
            raise InvalidInput(f"unknown xarray step {step.command!r} (known: {', '.join(sorted(BUILTINS))})")
        entry.run(StepArgs(step.command, args), context)

    def check(self, step: Step, base_dirs: list[str], settings: Settings | None = None) -> list[tuple[str, str]]:
        entry = BUILTINS.get(step.command)
        if entry is None:
            return [("command", f"unknown xarray step {step.command!r} (known: {', '.join(sorted(BUILTINS))})")]
        problems = [(f"args.{name}", f"required by {entry.name}") for name in entry.required if name not in step.args]
        if not entry.variables:
            known = set(entry.required) | set(entry.optional)
            problems += [
                (f"args.{name}", f"not an argument of {entry.name} (expected {', '.join(sorted(known))})")
                for name in step.args
                if name not in known
            ]
        return problems


# ---------------------------------------------------------------- helpers


def _chunks(context: StepContext) -> int:
    return context.settings.processing.chunk_size


def _resampling(args: StepArgs, default: str = "bilinear") -> Resampling:
    return raster.parse_resampling(args.text("resampling", default))


def _grid(args: StepArgs, reference: str) -> GeoBox | None:
    projection = args.optional("projection")
    resolution = args.optional("resolution")
    if projection is None and resolution is None:
        return None
    return raster.target_grid(reference, projection or "", resolution)


def _write(
    data: xr.DataArray,
    args: StepArgs,
    context: StepContext,
    *,
    output: str | None = None,
    default_range: tuple[float, float] | None = None,
    resampling: str = cog.CONTINUOUS,
) -> None:
    """Scale real values to `dformat-out` when given (float32 with NaN otherwise), write a COG."""
    dformat = args.dformat()
    if dformat is not None:
        real_range = args.real_range(default_range or (dformat.min, dformat.max))
        data = raster.to_dformat(data, dformat, real_range, args.number("exponent", 1.0))
        nodata = cog.nodata_for(dformat.dtype, dformat.nodata)
    else:
        data = data.astype("float32")
        nodata = float("nan")
    cog.write_cog(
        data,
        context.workspace.destination(Path(output or args.text("output"))),
        nodata=nodata,
        resampling=resampling,
        settings=context.settings,
    )


def _on_grid(path: str, grid: GeoBox | None, context: StepContext, resampling: Resampling) -> xr.DataArray:
    return raster.open_on_grid(path, grid, chunks=_chunks(context), resampling=resampling, decode=True)


# ---------------------------------------------------------------- generic steps


def _convert(args: StepArgs, context: StepContext, operation: str) -> None:
    source = args.text("input")
    grid = _grid(args, source)
    resampling = _resampling(args)
    if operation == "none" and args.dformat() is None:
        # Same values, maybe another grid: keep the data type and nodata of the source.
        data = raster.open_on_grid(source, grid, chunks=_chunks(context), resampling=resampling)
        destination = context.workspace.destination(Path(args.text("output")))
        cog.write_cog(data, destination, nodata=data.rio.nodata, settings=context.settings)
        return
    data = _on_grid(source, grid, context, resampling)
    if operation == "linear_to_db":
        data = raster.linear_to_db(data)
    elif operation == "db_to_linear":
        data = raster.db_to_linear(data)
    elif operation != "none":
        raise InvalidInput(f"unknown operation {operation!r} (none, linear_to_db, db_to_linear)")
    _write(raster.copy_georef(data, data), args, context)


_CONVERT_ARGS = ("input", "output")
_CONVERT_OPTIONAL = (*_WRITE_ARGS, *_GRID_ARGS)


@builtin("convert", required=_CONVERT_ARGS, optional=(*_CONVERT_OPTIONAL, "operation"))
def convert(args: StepArgs, context: StepContext) -> None:
    """Copy a raster to a COG, optionally reprojected, converted (operation) and scaled to dformat-out."""
    _convert(args, context, args.text("operation", "none"))


@builtin(
    "reproject",
    required=(*_CONVERT_ARGS, "projection"),
    optional=tuple(a for a in _CONVERT_OPTIONAL if a != "projection"),
)
def reproject(args: StepArgs, context: StepContext) -> None:
    """Put a raster on the grid of `projection` (EPSG, WKT, UTM) at `resolution`, aligned on it."""
    _convert(args, context, "none")


@builtin("linear_to_db", required=_CONVERT_ARGS, optional=_CONVERT_OPTIONAL)
def linear_to_db(args: StepArgs, context: StepContext) -> None:
    """10·log10(x) of a linear raster (x ≤ 0 → nodata)."""
    _convert(args, context, "linear_to_db")


@builtin("db_to_linear", required=_CONVERT_ARGS, optional=_CONVERT_OPTIONAL)
def db_to_linear(args: StepArgs, context: StepContext) -> None:
    """10^(x/10) of a raster in dB."""
    _convert(args, context, "db_to_linear")


_NUMEXPR_NAMES = {
    "where", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "arctan2", "sinh", "cosh", "tanh", "arcsinh",
    "arccosh", "arctanh", "log", "log10", "log1p", "exp", "expm1", "sqrt", "abs", "conj", "real", "imag",
    "complex", "floor", "ceil", "True", "False", "nan", "inf",
}  # fmt: skip


def _expression_names(expression: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expression)) - _NUMEXPR_NAMES


def _evaluate(expression: str, names: list[str], arrays: list[darr.Array]) -> darr.Array:
    """numexpr per chunk: arithmetic only, no Python code can run from a graph."""
    try:
        numexpr.NumExpr(expression.replace("nan", "(0.0/0.0)"), signature=[(n, np.float64) for n in names])
    except (SyntaxError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"invalid expression {expression!r}: {exc}") from None
    prepared = expression.replace("nan", "(0.0/0.0)")

    def block(*chunks: np.ndarray) -> np.ndarray:
        local = {n: c.astype("float64") for n, c in zip(names, chunks, strict=True)}
        with np.errstate(all="ignore"):
            result = numexpr.evaluate(prepared, local_dict=local)
        return np.asarray(result, dtype="float32")

    return cast("darr.Array", darr.map_blocks(block, *arrays, dtype="float32"))


@builtin(
    "band_math",
    required=("expression", "output"),
    optional=(*_WRITE_ARGS, *_GRID_ARGS),
    variables=True,
)
def band_math(args: StepArgs, context: StepContext) -> None:
    """Evaluate `expression` (numexpr syntax) over inputs given as other arguments, on the first one's grid."""
    expression = args.text("expression")
    reserved = {"expression", "output", *_WRITE_ARGS, *_GRID_ARGS}
    variables = {k: v for k, v in args.values.items() if k not in reserved}
    missing = _expression_names(expression) - set(variables)
    if missing:
        raise InvalidInput(f"band_math: {', '.join(sorted(missing))} used in the expression but not given as arguments")
    if not variables:
        raise InvalidInput("band_math: no input given")
    bad = [k for k in variables if not k.isidentifier()]
    if bad:
        raise InvalidInput(f"band_math: input names must be identifiers, got {', '.join(bad)}")
    names = list(variables)
    first = variables[names[0]]
    grid = _grid(args, first) or raster.geobox_of(first)
    resampling = _resampling(args)
    data = [_on_grid(variables[n], grid, context, resampling) for n in names]
    template = data[0]
    result = xr.DataArray(
        _evaluate(expression, names, [d.data for d in data]), coords=template.coords, dims=template.dims
    )
    _write(raster.copy_georef(template, result), args, context)


_COMPARE = {
    "difference": lambda a, b: a - b,
    "ratio": lambda a, b: a / b,
    "log_ratio": lambda a, b: 10 * np.log10(a / b),
    "normalized_difference": lambda a, b: (a - b) / (a + b),
}


def _compare(args: StepArgs, context: StepContext, operation: str) -> None:
    if operation not in _COMPARE:
        raise InvalidInput(f"unknown operation {operation!r} (expected one of {', '.join(_COMPARE)})")
    current = args.text("input")
    grid = raster.geobox_of(current)
    resampling = _resampling(args)
    a = _on_grid(current, None, context, resampling)
    b = _on_grid(args.text("other"), grid, context, resampling)
    b = b.assign_coords(x=a.x, y=a.y)
    with np.errstate(all="ignore"):
        result = _COMPARE[operation](a.astype("float32"), b.astype("float32"))
    result = result.where(np.isfinite(result))
    _write(raster.copy_georef(a, result), args, context)


_COMPARE_ARGS = ("input", "other", "output")


@builtin("difference", required=_COMPARE_ARGS, optional=(*_WRITE_ARGS, "resampling", "operation"))
def difference(args: StepArgs, context: StepContext) -> None:
    """input - other (or `operation` ratio, log_ratio, normalized_difference), other put on input's grid."""
    _compare(args, context, args.text("operation", "difference"))


@builtin("ratio", required=_COMPARE_ARGS, optional=(*_WRITE_ARGS, "resampling"))
def ratio(args: StepArgs, context: StepContext) -> None:
    """input / other, other put on input's grid."""
    _compare(args, context, "ratio")


@builtin("coherence", required=_COMPARE_ARGS, optional=(*_WRITE_ARGS, "resampling", "window"))
def coherence_step(args: StepArgs, context: StepContext) -> None:
    """|Σa·b*|/sqrt(Σ|a|²Σ|b|²) over a moving `window` (rows,cols): coherence of complex inputs."""
    current = args.text("input")
    grid = raster.geobox_of(current)
    resampling = _resampling(args)
    a = _on_grid(current, None, context, resampling)
    b = _on_grid(args.text("other"), grid, context, resampling).assign_coords(x=a.x, y=a.y)
    _write(raster.coherence(a, b, args.window((5, 5))), args, context, default_range=(0.0, 1.0))


# ---------------------------------------------------------------- Sentinel-2


def _s2_reflectance(product: s2.S2Product, band: str, grid: GeoBox | None, context: StepContext) -> xr.DataArray:
    path, _ = product.band_path(band, None if grid is None else round(abs(grid.resolution.x)))
    dn = raster.open_on_grid(path, grid, chunks=_chunks(context), resampling=Resampling.bilinear)
    offset = product.offset(band)
    reflectance = (dn.astype("float32") + offset) / product.quantification
    return reflectance.where(dn != 0)


def _scl(product: s2.S2Product, grid: GeoBox, context: StepContext) -> xr.DataArray:
    path, _ = product.band_path("SCL")
    return raster.open_on_grid(path, grid, chunks=_chunks(context), resampling=Resampling.nearest)


def _s2_grid(product: s2.S2Product, band: str, resolution: str | None) -> GeoBox:
    """The grid of `band` at `resolution` (its finest file when unset), derived when missing."""
    wanted = None if resolution is None else int(float(resolution))
    path, native = product.band_path(band, wanted)
    grid = raster.geobox_of(path)
    if grid is None:
        raise InvalidInput(f"{path}: band file is not georeferenced")
    if wanted is None or wanted == native:
        return grid
    return grid.zoom_out(wanted / native)


@builtin(
    "s2_extract_bands",
    required=("product", "pattern-out"),
    optional=("bands", "harmonize"),
)
def s2_extract_bands(args: StepArgs, context: StepContext) -> None:
    """One COG per band of an S2 L1C/L2A product; `*` of pattern-out is replaced by the band name."""
    product = s2.S2Product.open(args.text("product"))
    pattern = args.text("pattern-out")
    if "*" not in Path(pattern).name:
        raise InvalidInput(f"s2_extract_bands: pattern-out {pattern!r} has no '*' to put the band name in")
    wanted = args.optional("bands")
    bands = [s2.normalise_band(b) for b in wanted.split(",")] if wanted else product.bands
    harmonize = args.flag("harmonize", True)
    for band in bands:
        path, _ = product.band_path(band)
        dn = raster.open_raster(path, chunks=_chunks(context))
        offset = product.offset(band) if harmonize else 0
        if offset:
            # Harmonised to the pre-04.00 scale: reflectance = DN / quantification for every baseline.
            shifted = darr.map_blocks(s2.harmonised_dn, dn.data, offset, dtype="uint16")
            out = raster.copy_georef(dn, dn.copy(data=shifted))
        else:
            out = dn.astype("uint16")
        out.attrs = {
            "scale_factor": 1 / product.quantification,
            "add_offset": 0.0 if harmonize else offset / product.quantification,
        }
        target = Path(pattern.replace("*", band))
        cog.write_cog(out, context.workspace.destination(target), nodata=0, settings=context.settings)


@builtin(
    "s2_band_math",
    required=("product", "expression", "output"),
    optional=(*_WRITE_ARGS, "resolution", "mask-classes"),
)
def s2_band_math(args: StepArgs, context: StepContext) -> None:
    """An expression over reflectances (offset of baseline ≥ 04.00 applied), SCL classes masked out."""
    product = s2.S2Product.open(args.text("product"))
    expression = args.text("expression")
    names = sorted(_expression_names(expression))
    bands = {n: s2.normalise_band(n) for n in names}
    unknown = [n for n, b in bands.items() if b not in s2.NATIVE_RESOLUTION]
    if unknown:
        raise InvalidInput(f"s2_band_math: {', '.join(unknown)} are not Sentinel-2 bands")
    resolution = args.optional("resolution")
    reference = min(bands.values(), key=lambda b: s2.NATIVE_RESOLUTION[b])
    grid = _s2_grid(product, reference, resolution)
    data = [_s2_reflectance(product, bands[n], grid, context) for n in names]
    template = data[0]
    result = xr.DataArray(
        _evaluate(expression, names, [d.data for d in data]), coords=template.coords, dims=template.dims
    )
    classes = args.optional("mask-classes")
    if classes is not None:
        scl = _scl(product, grid, context).assign_coords(x=template.x, y=template.y)
        masked = scl.isin(list(s2.parse_classes(classes))) | (scl == 0)
        result = result.where(~masked)
    _write(raster.copy_georef(template, result.where(np.isfinite(result))), args, context)


@builtin("s2_cloud_mask", required=("product", "output"), optional=("mask-classes", "resolution"))
def s2_cloud_mask(args: StepArgs, context: StepContext) -> None:
    """uint8 mask from the L2A scene classification: 1 = a masked class, 0 = clear, 255 = no data."""
    product = s2.S2Product.open(args.text("product"))
    if "SCL" not in product.files:
        raise InvalidInput(f"s2_cloud_mask: {product.name or 'the product'} has no SCL band (an L2A product is needed)")
    classes = s2.parse_classes(args.optional("mask-classes"))
    grid = _s2_grid(product, "SCL", args.optional("resolution"))
    scl = _scl(product, grid, context)
    mask = xr.where(scl == 0, np.uint8(255), xr.where(scl.isin(list(classes)), np.uint8(1), np.uint8(0)))
    mask = raster.copy_georef(scl, mask.astype("uint8"))
    mask.attrs = {}
    cog.write_cog(
        mask,
        context.workspace.destination(Path(args.text("output"))),
        nodata=255,
        resampling=cog.CATEGORICAL,
        settings=context.settings,
    )


# ---------------------------------------------------------------- Sentinel-1


@builtin(
    "s1_backscatter",
    required=("product", "polarisation", "output"),
    optional=(*_WRITE_ARGS, *_GRID_ARGS, "calibration", "db"),
)
def s1_backscatter(args: StepArgs, context: StepContext) -> None:
    """Calibrated backscatter (sigma0 by default) of a GRD polarisation, in dB, on a UTM (or given) grid."""
    band = s1.open_grd(args.text("product"), args.text("polarisation"))
    lut = s1.parse_calibration(band.calibration, args.text("calibration", "sigmaNought"))
    dn = raster.open_raster(band.measurement, chunks=_chunks(context))
    linear = xr.DataArray(s1.calibrate(dn.data, lut), coords=dn.coords, dims=dn.dims)
    # Radar geometry first (GCPs kept), then one warp of the linear values onto the grid.
    radar = context.scratch(f"{band.polarisation}_radar.tif")
    cog.write_tiled(linear, radar, nodata=float("nan"), settings=context.settings)
    try:
        grid = raster.target_grid(radar, args.text("projection", "UTM"), args.text("resolution", "20"))
        data = _on_grid(str(radar), grid, context, _resampling(args))
        if args.flag("db", True):
            data = raster.linear_to_db(data)
        _write(raster.copy_georef(data, data), args, context)
    finally:
        radar.unlink(missing_ok=True)


# Built-in steps of other modules register themselves when imported: import them with the engine.
from geocube_ingest.processing.sar import steps as _sar_steps  # noqa: E402, F401
