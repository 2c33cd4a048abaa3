"""The seam between the ingester and the index ("the Geocube"): its entities and the calls it needs.

Processing builds `DatasetToIndex` values for its `to_index` outputs and hands them to
an `Index` implementation (embedded SQL, or a real Geocube server). The catalogue step
resolves the payload's `layers` and creates (or reuses) one record per scene before the
workflow is posted, and deletes the records it created if that post fails.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geocube_ingest.errors import InvalidInput

# Geocube's naming rules: instances (and AOIs, grids...) are one word; variables are
# "URNs", words joined by "/" (e.g. "test/vegetation/NDVI").
NAME_PATTERN = r"^[a-zA-Z0-9\-:_]+$"
VARIABLE_NAME_PATTERN = r"^[a-zA-Z0-9\-:_]+(/[a-zA-Z0-9\-:_]+)*$"
_NAME = re.compile(NAME_PATTERN)
_VARIABLE_NAME = re.compile(VARIABLE_NAME_PATTERN)

# Record tags the ingester itself writes (upstream's names).
TAG_PROCESSING_DATE = "processingDate"
TAG_PREVIOUS_SCENES = "previous_scenes"
TAG_REFERENCE_SCENES = "reference_scenes"
# Tags that change on every processing and so never distinguish two records.
VOLATILE_TAGS = frozenset({TAG_PROCESSING_DATE})


def check_name(name: str, what: str = "name") -> str:
    """An instance (or other single-word) name, or InvalidInput saying why not."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(f"invalid {what} {name!r}: only letters, digits, '-', ':' and '_' are allowed")
    return name


def check_variable_name(name: str) -> str:
    """A variable name: words of letters, digits, '-', ':' and '_' joined by '/'."""
    if not isinstance(name, str) or not _VARIABLE_NAME.fullmatch(name):
        raise InvalidInput(
            f"invalid variable name {name!r}: words of letters, digits, '-', ':' and '_', optionally joined by '/'"
        )
    return name


@dataclass(frozen=True, slots=True)
class DFormat:
    """How values are stored: `dtype,nodata,min,max` (Geocube's data format)."""

    dtype: str
    nodata: float
    min: float
    max: float

    @classmethod
    def parse(cls, text: str) -> DFormat:
        parts = [p.strip() for p in str(text).split(",")]
        if len(parts) != 4:
            raise InvalidInput(f"invalid dformat {text!r}: expected 'dtype,nodata,min,max'")
        dtype = parts[0].lower()
        try:
            np.dtype(dtype)
        except TypeError:
            raise InvalidInput(f"invalid dformat {text!r}: unknown data type {parts[0]!r}") from None
        try:
            nodata, low, high = (float(p) for p in parts[1:])
        except ValueError:
            raise InvalidInput(f"invalid dformat {text!r}: nodata, min and max must be numbers") from None
        if not low < high:
            raise InvalidInput(f"invalid dformat {text!r}: min must be below max")
        return cls(dtype, nodata, low, high)

    def __str__(self) -> str:
        return f"{self.dtype},{_num(self.nodata)},{_num(self.min)},{_num(self.max)}"

    @property
    def numpy_dtype(self) -> np.dtype[Any]:
        return np.dtype(self.dtype)

    def same_as(self, other: DFormat) -> bool:
        """Equality where a NaN nodata equals a NaN nodata."""
        return (
            np.dtype(self.dtype) == np.dtype(other.dtype)
            and _same_float(self.nodata, other.nodata)
            and _same_float(self.min, other.min)
            and _same_float(self.max, other.max)
        )


def _num(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return str(int(value)) if float(value).is_integer() else repr(value)


def _same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@dataclass(frozen=True, slots=True)
class ValueMapping:
    """Stored value v → real value `real_min + (real_max - real_min) * ((v - min) / (max - min)) ** exponent`."""

    dformat: DFormat
    real_min: float
    real_max: float
    exponent: float = 1.0

    @property
    def is_linear(self) -> bool:
        return self.exponent == 1.0

    @property
    def scale(self) -> float:
        """The linear factor (STAC raster `scale`); meaningful when `is_linear`."""
        return (self.real_max - self.real_min) / (self.dformat.max - self.dformat.min)

    @property
    def offset(self) -> float:
        """The linear offset (STAC raster `offset`); meaningful when `is_linear`."""
        return self.real_min - self.dformat.min * self.scale

    @property
    def step(self) -> float:
        """Real-value size of one stored unit: the precision an integer format keeps (linear case)."""
        return abs(self.scale)

    def to_real(self, stored: Any) -> Any:
        """Map stored values (numpy, xarray or dask arrays) to real values; nodata becomes NaN."""
        values = stored.astype("float64") if hasattr(stored, "astype") else np.float64(stored)
        ratio = (values - self.dformat.min) / (self.dformat.max - self.dformat.min)
        real = self.real_min + (self.real_max - self.real_min) * (ratio if self.is_linear else ratio**self.exponent)
        nodata = self.dformat.nodata
        invalid = values != values if math.isnan(nodata) else values == nodata
        if hasattr(real, "where"):
            return real.where(~invalid)
        return np.where(invalid, np.nan, real)

    def to_stored(self, real: Any) -> np.ndarray[Any, Any]:
        """Inverse mapping with rounding and clipping to the dformat (NaN → nodata); used to write layers."""
        values = np.asarray(real, dtype="float64")
        ratio = np.clip((values - self.real_min) / (self.real_max - self.real_min), 0.0, 1.0)
        if not self.is_linear:
            ratio = ratio ** (1.0 / self.exponent)
        stored = self.dformat.min + ratio * (self.dformat.max - self.dformat.min)
        dtype = np.dtype(self.dformat.dtype)
        if dtype.kind in "iu":
            stored = np.rint(stored)
        stored = np.where(np.isnan(values), self.dformat.nodata, stored)
        return stored.astype(dtype)


@dataclass(frozen=True, slots=True)
class DatasetToIndex:
    """One file to index for one record and one instance.

    Stored value v maps to the real value
    `real_min + (real_max - real_min) * ((v - dformat.min) / (dformat.max - dformat.min)) ** exponent`.
    """

    uri: str
    record_id: str
    instance_id: str
    dformat: DFormat
    real_min: float
    real_max: float
    exponent: float = 1.0
    bands: tuple[int, ...] = (1,)
    layer: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mapping(self) -> ValueMapping:
        return ValueMapping(self.dformat, self.real_min, self.real_max, self.exponent)


class Resampling(StrEnum):
    """Resampling used when a variable is reprojected (Geocube's list)."""

    near = "near"
    bilinear = "bilinear"
    cubic = "cubic"
    cubicspline = "cubicspline"
    lanczos = "lanczos"
    average = "average"
    mode = "mode"
    max = "max"
    min = "min"
    med = "med"
    q1 = "q1"
    q3 = "q3"

    @classmethod
    def parse(cls, value: str | Resampling) -> Resampling:
        try:
            return cls(str(value).lower())
        except ValueError:
            raise InvalidInput(
                f"unknown resampling {value!r} (expected one of {', '.join(r.value for r in cls)})"
            ) from None


@dataclass(frozen=True, slots=True)
class Instance:
    """A flavour of a variable (e.g. "RNKell" of "BackscatterSigma0VV"), with free metadata."""

    id: str
    name: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Variable:
    """What a layer is: its real-value data format, bands, unit; and its instances."""

    id: str
    name: str
    dformat: DFormat
    bands: tuple[str, ...] = ("",)
    unit: str = ""
    description: str = ""
    palette: str = ""
    resampling: Resampling = Resampling.bilinear
    instances: tuple[Instance, ...] = ()

    def instance(self, name: str) -> Instance | None:
        return next((i for i in self.instances if i.name == name), None)


_LAYER_FIELDS = ("variable", "instance", "instance_id")


@dataclass(frozen=True, slots=True)
class LayerRef:
    """Where a layer goes: a variable and instance by name, or an instance id."""

    variable: str | None = None
    instance: str | None = None
    instance_id: str | None = None

    @classmethod
    def of(cls, value: Any) -> LayerRef:
        """Accept a LayerRef, the payload's pydantic LayerRef, or a plain mapping."""
        if isinstance(value, LayerRef):
            return value
        fields = value if isinstance(value, Mapping) else {k: getattr(value, k, None) for k in _LAYER_FIELDS}
        ref = cls(fields.get("variable"), fields.get("instance"), fields.get("instance_id"))
        if not ref.instance_id and not (ref.variable and ref.instance):
            raise InvalidInput(f"invalid layer {value!r}: needs variable and instance, or instance_id")
        return ref

    def describe(self) -> str:
        return f"instance id {self.instance_id}" if self.instance_id else f"{self.variable}:{self.instance}"


@dataclass(frozen=True, slots=True)
class Record:
    """One acquisition: name (scene id), time, tags and footprint (EPSG:4326)."""

    id: str
    name: str
    time: datetime
    tags: dict[str, str]
    aoi_id: str
    footprint: BaseGeometry | None = None


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A record to create, or to reuse when one with the same name, time and tags exists."""

    name: str
    time: datetime
    tags: dict[str, str]
    footprint: BaseGeometry | str

    def geometry(self) -> BaseGeometry:
        return as_geometry(self.footprint, f"footprint of record {self.name!r}")


@dataclass(frozen=True, slots=True)
class CreatedRecord:
    """The outcome of `create_records` for one input: the record, and whether this call created it."""

    record: Record
    created: bool

    @property
    def id(self) -> str:
        return self.record.id


@dataclass(frozen=True, slots=True)
class IndexedDataset:
    """A dataset as the index keeps it: the file, what it is, how to read it, where it is."""

    id: str
    record_id: str
    instance_id: str
    uri: str
    bands: tuple[int, ...]
    mapping: ValueMapping
    crs: str
    transform: tuple[float, float, float, float, float, float]
    shape: tuple[int, int]  # (height, width)
    footprint: BaseGeometry


@runtime_checkable
class Index(Protocol):
    """What the ingester needs from an index; each backend is one class implementing it."""

    # -- variables and instances (admin) --------------------------------------------
    def create_variable(
        self,
        name: str,
        dformat: DFormat | str,
        *,
        bands: Sequence[str] = ("",),
        unit: str = "",
        description: str = "",
        palette: str = "",
        resampling: Resampling | str = Resampling.bilinear,
        exist_ok: bool = False,
    ) -> Variable:
        """Create a variable (Conflict if it exists and not `exist_ok`)."""
        ...

    def instantiate(
        self, variable: str, instance: str, metadata: Mapping[str, str] | None = None, *, exist_ok: bool = False
    ) -> Instance:
        """Create an instance of a variable (Conflict if it exists and not `exist_ok`)."""
        ...

    def variable(self, name: str) -> Variable:
        """The variable with its instances (NotFound if missing)."""
        ...

    def list_variables(self, pattern: str = "*") -> list[Variable]:
        """Variables whose name matches a pattern with * and ?."""
        ...

    # -- what the catalogue needs --------------------------------------------------------
    def resolve_layers(self, layers: Mapping[str, Any]) -> dict[str, str]:
        """layer → instance id; NotFound naming every missing variable/instance (nothing is created)."""
        ...

    def find_records(
        self,
        *,
        ids: Sequence[str] | None = None,
        name: str | None = None,
        tags: Mapping[str, str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        footprint: BaseGeometry | str | None = None,
        limit: int | None = None,
    ) -> list[Record]:
        """Records matching every filter given (name pattern with * and ?; tags: all must match)."""
        ...

    def create_records(self, records: Sequence[NewRecord]) -> list[CreatedRecord]:
        """Create records in one batch, reusing those with the same name, time and tags."""
        ...

    def delete_records(self, ids: Sequence[str]) -> int:
        """Delete records that have no dataset (Conflict, and nothing deleted, if one has)."""
        ...

    def add_records_tags(self, ids: Sequence[str], tags: Mapping[str, str]) -> int:
        """Add or update tags of records; returns how many records were updated."""
        ...

    # -- what processing needs -------------------------------------------------------------
    def index_datasets(self, datasets: Sequence[DatasetToIndex]) -> None:
        """Index files; the same dataset again is a no-op, a conflicting one an error."""
        ...


# -- helpers shared by the implementations and their callers ------------------------------


def as_geometry(value: BaseGeometry | str | Mapping[str, Any], what: str = "geometry") -> BaseGeometry:
    """A shapely geometry from a geometry, WKT or GeoJSON mapping; InvalidInput when unusable."""
    try:
        if isinstance(value, BaseGeometry):
            geometry = value
        elif isinstance(value, str):
            geometry = shapely.from_wkt(value)
        elif isinstance(value, Mapping):
            geometry = shapely.geometry.shape(value)
        else:
            raise TypeError(f"unsupported {type(value).__name__}")
    except (shapely.errors.ShapelyError, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise InvalidInput(f"invalid {what}: {exc}") from None
    if geometry.is_empty:
        raise InvalidInput(f"invalid {what}: empty geometry")
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    return geometry


def utc(value: datetime, what: str = "time") -> datetime:
    """A timezone-aware UTC datetime (naive values are taken as UTC, as catalogues do)."""
    if not isinstance(value, datetime):
        raise InvalidInput(f"invalid {what}: expected a datetime, got {type(value).__name__}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def identity_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags that identify a record: all but the volatile ones (processingDate)."""
    return {str(k): str(v) for k, v in tags.items() if k not in VOLATILE_TAGS}


def tags_key(tags: Mapping[str, str]) -> str:
    """A canonical text of the identifying tags, to compare and index records by."""
    return json.dumps(identity_tags(tags), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_tags(
    catalogue_tags: Mapping[str, str],
    payload_tags: Mapping[str, str] | None = None,
    previous_scenes: Sequence[str] = (),
    reference_scenes: Sequence[str] = (),
) -> dict[str, str]:
    """A scene's record tags: payload `record_tags`, overridden by the catalogue's, plus the
    previous/reference scene lists (JSON, sorted, as upstream writes them)."""
    tags = {str(k): str(v) for k, v in (payload_tags or {}).items()}
    tags.update({str(k): str(v) for k, v in catalogue_tags.items()})
    tags[TAG_PREVIOUS_SCENES] = json.dumps(sorted(set(previous_scenes)))
    tags[TAG_REFERENCE_SCENES] = json.dumps(sorted(set(reference_scenes)))
    return tags


def processing_date_tag(now: datetime | None = None) -> dict[str, str]:
    """The tag processing adds to a record once its layers are indexed (upstream's format)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return {TAG_PROCESSING_DATE: moment.strftime("%Y-%m-%d %H:%M:%S")}


@contextmanager
def record_batch(index: Index, records: Sequence[NewRecord]) -> Iterator[list[CreatedRecord]]:
    """Create (or reuse) records for a post; if the block raises, delete the ones this call created.

    Upstream deletes the records of scenes that could not be posted to the workflow; here
    the whole post is one unit, so every record it created goes.
    """
    results = index.create_records(records)
    try:
        yield results
    except BaseException:
        created = [r.id for r in results if r.created]
        if created:
            index.delete_records(created)
        raise
