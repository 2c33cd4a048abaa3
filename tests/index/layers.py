"""Test layers: real values computed like a graph's outputs, stored as COGs with their dformat mapping."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geocube_ingest.index.base import DatasetToIndex, DFormat, ValueMapping
from geocube_ingest.index.embedded import EmbeddedIndex
from tests.index.conftest import write_cog


@dataclass(frozen=True)
class LayerSpec:
    """A graph output: which variable/instance it is and how the graph stores it."""

    layer: str
    variable: str
    variable_dformat: str
    instance: str
    stored: str  # dformat_out
    real_min: float
    real_max: float
    exponent: float = 1.0
    unit: str = ""

    @property
    def key(self) -> str:
        return f"{self.variable}_{self.instance}"

    @property
    def mapping(self) -> ValueMapping:
        return ValueMapping(DFormat.parse(self.stored), self.real_min, self.real_max, self.exponent)

    def tolerance(self) -> float:
        """Half a stored step in real units (the largest step for exponent > 1), plus the float32
        rounding of the cube's values (the variables are float32)."""
        fmt = self.mapping.dformat
        float32 = float(np.finfo(np.float32).eps) * max(1.0, abs(self.real_max), abs(self.real_min))
        if np.dtype(fmt.dtype).kind == "f":
            return float32
        span = self.real_max - self.real_min
        steps = fmt.max - fmt.min
        return span * self.exponent / steps / 2 + float32


# The layers of an S2 index graph and an S1 backscatter graph, with upstream-like dformats.
NDVI = LayerSpec("ndvi", "NDVI", "float32,nan,-1,1", "S2", "uint8,255,0,254", -1, 1)
SIGMA0 = LayerSpec(
    "sigma0_VV", "BackscatterSigma0VV", "float32,nan,-50,10", "RNKell", "int16,-32768,-30000,30000", -50, 10, unit="dB"
)
COHERENCE = LayerSpec("coh_VV", "CoherenceVV", "float32,nan,0,1", "v1", "float32,nan,0,1", 0, 1)
RAIN = LayerSpec("rain", "Rain", "float32,nan,0,100", "exp2", "uint16,0,1,65535", 0, 100, exponent=2.0, unit="mm")
ALL = (NDVI, SIGMA0, COHERENCE, RAIN)


def real_values(spec: LayerSpec, seed: int, shape: tuple[int, int] = (48, 64)) -> np.ndarray:
    """What a graph computed: smooth values over the real range, a few nodata pixels."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    wave = 0.5 + 0.45 * np.sin(rows / 7.0 + seed) * np.cos(cols / 9.0 - seed)
    real = spec.real_min + (spec.real_max - spec.real_min) * np.clip(wave + rng.normal(0, 0.02, shape), 0, 1)
    real[rng.random(shape) < 0.02] = np.nan
    return real


def prepare(index: EmbeddedIndex, specs: tuple[LayerSpec, ...] = ALL) -> dict[str, str]:
    """Variables and instances for the specs; layer → instance id."""
    ids = {}
    for spec in specs:
        index.create_variable(spec.variable, spec.variable_dformat, unit=spec.unit, exist_ok=True)
        ids[spec.layer] = index.instantiate(spec.variable, spec.instance, exist_ok=True).id
    return ids


def write_layer(
    folder: Path, spec: LayerSpec, real: np.ndarray, record_id: str, instance_id: str, **grid: object
) -> DatasetToIndex:
    """Store `real` as the graph would (dformat mapping), and the dataset to index it."""
    fmt = spec.mapping.dformat
    path = write_cog(folder / f"{spec.layer}.tif", spec.mapping.to_stored(real), nodata=fmt.nodata, **grid)  # type: ignore[arg-type]
    return DatasetToIndex(
        str(path), record_id, instance_id, fmt, spec.real_min, spec.real_max, spec.exponent, layer=spec.layer
    )
