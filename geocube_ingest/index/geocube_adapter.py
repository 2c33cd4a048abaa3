"""The index over a real Geocube server, through the Airbus Geocube Python client.

The client is not on PyPI (install it from its repository); it is imported on first use,
so it is never a dependency. Beware: the PyPI package named `geocube` is an unrelated
project with the same import name; it is detected and refused with a clear message.

The calls follow the upstream ingester: layers are checked with `variable(...)`, a record
is reused when `list_records` finds one with the same name, time and tags, otherwise its
AOI is created (an existing one is reused) and the records are created in one batch;
datasets are indexed as *managed* containers (the Geocube owns the files), an
`ALREADY_EXISTS` answer counts as success, and indexing is tried 3 times (15 s apart).
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import ModuleType
from typing import Any, TypeVar

from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geocube_ingest.errors import Conflict, InvalidInput, NotFound, RetriableError, TemporaryError
from geocube_ingest.index.base import (
    CreatedRecord,
    DatasetToIndex,
    DFormat,
    Instance,
    LayerRef,
    NewRecord,
    Record,
    Resampling,
    Variable,
    as_geometry,
    check_name,
    check_variable_name,
    identity_tags,
    utc,
)
from geocube_ingest.settings import Settings, get_settings

log = logging.getLogger(__name__)
T = TypeVar("T")

ALREADY_EXISTS = "ALREADY_EXISTS"
NOT_FOUND = "NOT_FOUND"
INVALID_ARGUMENT = "INVALID_ARGUMENT"
FAILED_PRECONDITION = "FAILED_PRECONDITION"
UNAVAILABLE = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED", "INTERNAL")


def load_client_module() -> ModuleType:
    """The Airbus client's `geocube` package, or InvalidInput saying what to install."""
    try:
        module = importlib.import_module("geocube")
    except ImportError:
        raise InvalidInput(
            "the Geocube backend needs the Airbus Geocube Python client "
            "(not on PyPI: pip install git+<its repository>); or set index.backend = 'embedded'"
        ) from None
    if not hasattr(module, "Client"):
        raise InvalidInput(
            "the installed 'geocube' package is not the Airbus Geocube client "
            "(the PyPI package 'geocube' is an unrelated project with the same name)"
        )
    return module


def codename(error: BaseException) -> str:
    """The gRPC status name a client error carries ("" when it is not a client error)."""
    return str(getattr(error, "codename", "") or "")


class GeocubeIndex:
    """The `Index` calls over a Geocube server."""

    def __init__(
        self,
        client: Any,
        module: ModuleType | None = None,
        *,
        retries: int = 3,
        retry_wait_seconds: float = 15.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.client = client
        self.module = module or load_client_module()
        self.entities = importlib.import_module(f"{self.module.__name__}.entities")
        self.retries = max(1, retries)
        self.retry_wait_seconds = retry_wait_seconds
        self._sleep = sleep

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> GeocubeIndex:
        settings = settings or get_settings()
        cfg = settings.index
        if not cfg.geocube_server:
            raise InvalidInput("index.backend is 'geocube' but index.geocube_server is not set")
        module = load_client_module()
        token = cfg.geocube_token.get_secret_value() if cfg.geocube_token is not None else ""
        client = module.Client(cfg.geocube_server, cfg.geocube_secure, token, False)
        return cls(client, module, retries=cfg.geocube_retries, retry_wait_seconds=cfg.geocube_retry_wait_seconds)

    def __repr__(self) -> str:
        return f"GeocubeIndex({type(self.client).__name__})"

    # -- calling the client ------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One client call, its errors translated to ours (a missing thing is NotFound...)."""
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if not codename(exc):
                raise
            raise translate(what, exc) from None

    # -- variables and instances --------------------------------------------------------------

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
        check_variable_name(name)
        fmt = dformat if isinstance(dformat, DFormat) else DFormat.parse(dformat)
        method = Resampling.parse(resampling)
        try:
            created = self._call(
                f"create variable {name}",
                self.client.create_variable,
                name,
                (fmt.numpy_dtype.name, fmt.nodata, fmt.min, fmt.max),
                list(bands) or [""],
                unit=unit,
                description=description,
                palette=palette,
                resampling_alg=self.entities.Resampling[method.value],
            )
        except Conflict:
            if not exist_ok:
                raise
            created = self._call(f"variable {name}", self.client.variable, name=name)
        return _variable(created)

    def instantiate(
        self, variable: str, instance: str, metadata: Mapping[str, str] | None = None, *, exist_ok: bool = False
    ) -> Instance:
        check_name(instance, "instance name")
        found = self._call(f"variable {variable}", self.client.variable, name=variable)
        existing = found.instances.get(instance)
        if existing is not None:
            if not exist_ok:
                raise Conflict(f"instance {variable}:{instance} already exists")
            if metadata is not None and dict(existing.metadata) != dict(metadata):
                raise Conflict(f"instance {variable}:{instance} already exists with other metadata")
            return Instance(existing.id, existing.name, dict(existing.metadata))
        made = self._call(f"instantiate {variable}:{instance}", found.instantiate, instance, dict(metadata or {}))
        return Instance(made.instance_id, made.instance_name, dict(made.metadata))

    def variable(self, name: str) -> Variable:
        return _variable(self._call(f"variable {name}", self.client.variable, name=name))

    def list_variables(self, pattern: str = "*") -> list[Variable]:
        found = self._call("list variables", self.client.list_variables, name=pattern)
        return sorted((_variable(v) for v in found), key=lambda v: v.name)

    # -- layers and records --------------------------------------------------------------------

    def resolve_layers(self, layers: Mapping[str, Any]) -> dict[str, str]:
        resolved: dict[str, str] = {}
        missing: list[str] = []
        for layer, value in layers.items():
            ref = LayerRef.of(value)
            try:
                resolved[str(layer)] = self._resolve(ref)
            except NotFound:
                missing.append(f"{layer} ({ref.describe()})")
        if missing:
            raise NotFound(f"unknown layer(s) in the Geocube: {', '.join(missing)}")
        return resolved

    def _resolve(self, ref: LayerRef) -> str:
        if ref.instance_id:
            found = self._call(f"instance {ref.instance_id}", self.client.variable, instance_id=ref.instance_id)
            instance_id = getattr(found, "instance_id", None)
            if instance_id != ref.instance_id:  # the client answers the variable when no instance matches
                raise NotFound(f"instance {ref.instance_id} not found")
            return str(instance_id)
        variable = self._call(f"variable {ref.variable}", self.client.variable, name=ref.variable)
        instance = variable.instances.get(ref.instance)
        if instance is None:
            raise NotFound(f"instance {ref.variable}:{ref.instance} not found")
        return str(instance.id)

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
        area = None
        if footprint is not None:
            geometry = as_geometry(footprint, "footprint")
            # The Geocube filters by a multipolygon: points and lines become a hair-thin area.
            area = _multipolygon(geometry if geometry.area > 0 else geometry.buffer(1e-7))
        found = self._call(
            "list records",
            self.client.list_records,
            name=name or "",
            tags=dict(tags) if tags else None,
            from_time=utc(start) if start is not None else None,
            to_time=utc(end) if end is not None else None,
            aoi=area,
            limit=0 if ids is not None else (limit or 0),
            with_aoi=True,
        )
        records = [_record(r) for r in found]
        if ids is not None:
            wanted = set(ids)
            records = [r for r in records if r.id in wanted]
        return records[:limit] if limit is not None else records

    def create_records(self, records: Sequence[NewRecord]) -> list[CreatedRecord]:
        results: list[CreatedRecord | None] = []
        to_create: list[tuple[int, NewRecord, BaseGeometry, str]] = []
        for new in records:
            time_ = utc(new.time, f"time of record {new.name!r}")
            tags = {str(k): str(v) for k, v in new.tags.items()}
            geometry = new.geometry()
            existing = self._same_record(new.name, time_, tags)
            if existing is not None:
                results.append(CreatedRecord(existing, created=False))
                continue
            aoi_id = self._aoi_id(geometry)
            to_create.append((len(results), NewRecord(new.name, time_, tags, geometry), geometry, aoi_id))
            results.append(None)
        if to_create:
            ids = self._call(
                "create records",
                self.client.create_records,
                [aoi for _, _, _, aoi in to_create],
                [n.name for _, n, _, _ in to_create],
                [dict(n.tags) for _, n, _, _ in to_create],
                [n.time for _, n, _, _ in to_create],
            )
            if len(ids) != len(to_create):
                raise RetriableError(f"the Geocube created {len(ids)} record(s) of {len(to_create)}")
            for record_id, (position, new, geometry, aoi_id) in zip(ids, to_create, strict=True):
                record = Record(str(record_id), new.name, new.time, dict(new.tags), aoi_id, geometry)
                results[position] = CreatedRecord(record, created=True)
        return [r for r in results if r is not None]

    def _same_record(self, name: str, time_: datetime, tags: dict[str, str]) -> Record | None:
        """A record with this name, time and tags (processingDate aside), as upstream reuses them."""
        wanted = identity_tags(tags)
        candidates = self._call(
            f"list records {name}",
            self.client.list_records,
            name=name,
            tags=wanted or None,
            from_time=time_,
            to_time=time_,
            limit=0,
            with_aoi=True,
        )
        for candidate in candidates:
            record = _record(candidate)
            if record.name == name and record.time == time_ and identity_tags(record.tags) == wanted:
                return record
        return None

    def _aoi_id(self, geometry: BaseGeometry) -> str:
        """Create the AOI, or take the id of the identical one (the error's last word, as upstream)."""
        try:
            return str(self.client.create_aoi(_multipolygon(geometry)))
        except Exception as exc:
            if codename(exc) != ALREADY_EXISTS:
                raise translate("create AOI", exc) from None
            details = str(getattr(exc, "details", "") or "")
            return details.rsplit(" ", 1)[-1].strip()

    def delete_records(self, ids: Sequence[str]) -> int:
        wanted = sorted(set(ids))
        if not wanted:
            return 0
        self._call("delete records", self.client.delete_records, wanted)
        return len(wanted)

    def add_records_tags(self, ids: Sequence[str], tags: Mapping[str, str]) -> int:
        if not ids or not tags:
            return 0
        return int(self._call("add record tags", self.client.add_records_tags, list(ids), dict(tags)))

    # -- datasets ---------------------------------------------------------------------------

    def index_datasets(self, datasets: Sequence[DatasetToIndex]) -> None:
        """Index every dataset as a managed container; ALREADY_EXISTS is success; 3 tries in all."""
        pending = list(datasets)
        error: Exception | None = None
        for attempt in range(1, self.retries + 1):
            try:
                pending = self._index_pending(pending)
                return
            except (InvalidInput, NotFound):
                raise
            except Exception as exc:
                error = exc
                log.warning("indexing in the Geocube failed (try %d of %d): %s", attempt, self.retries, exc)
                if attempt < self.retries:
                    self._sleep(self.retry_wait_seconds)
        raise RetriableError(f"indexing in the Geocube failed after {self.retries} tries: {error}")

    def _index_pending(self, datasets: list[DatasetToIndex]) -> list[DatasetToIndex]:
        remaining = datasets  # shrinks in place: a retry resumes after the last success
        while remaining:
            dataset = remaining[0]
            try:
                self.client.index([self._container(dataset)])
            except Exception as exc:
                code = codename(exc)
                if code == ALREADY_EXISTS:
                    log.warning("%s is already indexed in the Geocube", dataset.uri)
                elif code in (NOT_FOUND, INVALID_ARGUMENT):
                    raise translate(f"index {dataset.uri}", exc) from None
                else:
                    raise
            remaining.pop(0)
        return remaining

    def _container(self, dataset: DatasetToIndex) -> Any:
        fmt = dataset.dformat
        entities = self.entities
        return entities.Container(
            uri=dataset.uri,
            managed=True,
            datasets=[
                entities.Dataset(
                    record_id=dataset.record_id,
                    instance_id=dataset.instance_id,
                    bands=[int(b) for b in dataset.bands],
                    dformat=entities.DataFormat.from_user((fmt.numpy_dtype.name, fmt.nodata, fmt.min, fmt.max)),
                    min_out=float(dataset.real_min),
                    max_out=float(dataset.real_max),
                    exponent=float(dataset.exponent),
                )
            ],
        )


def translate(what: str, exc: BaseException) -> Exception:
    """Our error class for a client error, by its gRPC status."""
    code = codename(exc)
    detail = getattr(exc, "details", "") or str(exc)
    if code == NOT_FOUND:
        return NotFound(f"{what}: not found in the Geocube ({detail})")
    if code == ALREADY_EXISTS:
        return Conflict(f"{what}: already exists in the Geocube ({detail})")
    if code == FAILED_PRECONDITION:
        return Conflict(f"{what}: refused by the Geocube ({detail})")
    if code == INVALID_ARGUMENT:
        return InvalidInput(f"{what}: refused by the Geocube ({detail})")
    if code in UNAVAILABLE:
        return TemporaryError(f"{what}: Geocube unavailable ({code}: {detail})")
    return RetriableError(f"{what}: Geocube error {code}: {detail}")


def _multipolygon(geometry: BaseGeometry) -> MultiPolygon:
    if isinstance(geometry, MultiPolygon):
        return geometry
    if isinstance(geometry, Polygon):
        return MultiPolygon([geometry])
    polygons = [g for g in getattr(geometry, "geoms", []) if isinstance(g, Polygon)]
    if not polygons:
        raise InvalidInput(f"a Geocube AOI must be a polygon, not a {geometry.geom_type}")
    return MultiPolygon(polygons)


def _dformat(value: Any) -> DFormat:
    nodata = getattr(value, "no_data", float("nan"))
    return DFormat(
        str(value.dtype),
        float("nan") if nodata is None else float(nodata),
        float(value.min_value),
        float(value.max_value),
    )


def _variable(value: Any) -> Variable:
    instances = getattr(value, "instances", {}) or {}
    resampling = getattr(value, "resampling_alg", None)
    resampling_name = getattr(resampling, "name", str(resampling or "bilinear"))
    return Variable(
        id=str(value.id),
        name=str(value.name),
        dformat=_dformat(value.dformat),
        bands=tuple(value.bands) or ("",),
        unit=value.unit or "",
        description=value.description or "",
        palette=value.palette or "",
        resampling=Resampling.parse(resampling_name) if resampling_name in Resampling.__members__ else Resampling.near,
        instances=tuple(
            Instance(str(i.id), str(i.name), dict(i.metadata or {})) for i in sorted(instances.values(), key=_name)
        ),
    )


def _name(value: Any) -> str:
    return str(value.name)


def _record(value: Any) -> Record:
    moment = value.datetime
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    aoi = getattr(value, "_aoi", None)
    footprint = aoi if isinstance(aoi, BaseGeometry) and not aoi.is_empty else None
    return Record(str(value.id), str(value.name), moment, dict(value.tags), str(value.aoi_id), footprint)
