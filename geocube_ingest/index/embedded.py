"""The embedded index (the default): the Geocube data model in SQL, SQLite or PostgreSQL.

Each public method is one transaction. Files are opened (to check band count, data type
and readability, and to keep their grid and footprint) before the write transaction
starts, so a slow storage never holds SQLite's single writer.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from geocube_ingest import database
from geocube_ingest.errors import Conflict, InvalidInput, NotFound
from geocube_ingest.index import rasters
from geocube_ingest.index.base import (
    CreatedRecord,
    DatasetToIndex,
    DFormat,
    IndexedDataset,
    Instance,
    LayerRef,
    NewRecord,
    Record,
    Resampling,
    ValueMapping,
    Variable,
    as_geometry,
    check_name,
    check_variable_name,
    tags_key,
    utc,
)
from geocube_ingest.index.tables import (
    AOIRow,
    ContainerRow,
    DatasetRow,
    InstanceRow,
    RecordRow,
    VariableRow,
    nan_to_null,
    null_to_nan,
)
from geocube_ingest.settings import Settings, get_settings

log = logging.getLogger(__name__)


class EmbeddedIndex:
    """Variables, instances, records and datasets in the index database (settings.resolved_index_database_url)."""

    def __init__(self, database_url: str | None = None, *, settings: Settings | None = None, migrate: bool = True):
        self.settings = settings or get_settings()
        self.url = database.normalize_url(database_url or self.settings.resolved_index_database_url)
        self.engine = database.get_engine(self.url)
        if migrate:
            database.migrate(self.engine, "index")
        self._sessions = database.make_sessionmaker(self.engine)

    def __repr__(self) -> str:
        return f"EmbeddedIndex({self.engine.url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction (used by the STAC publisher too)."""
        with database.transaction(self._sessions) as session:
            yield session

    # -- variables and instances ------------------------------------------------------------

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
        band_names = [str(b) for b in bands] or [""]
        if len(set(band_names)) != len(band_names):
            raise InvalidInput(f"invalid bands {band_names!r} for variable {name!r}: names must be unique")
        method = Resampling.parse(resampling)
        with self.session() as session:
            existing = session.scalar(select(VariableRow).where(VariableRow.name == name))
            if existing is not None:
                if exist_ok:
                    return self._variable(session, existing)
                raise Conflict(f"variable {name!r} already exists")
            row = VariableRow(
                id=str(uuid.uuid4()),
                name=name,
                unit=unit,
                description=description,
                dtype=fmt.numpy_dtype.name,
                nodata=nan_to_null(fmt.nodata),
                min_value=fmt.min,
                max_value=fmt.max,
                bands=band_names,
                palette=palette,
                resampling=method.value,
            )
            session.add(row)
            session.flush()
            return self._variable(session, row)

    def instantiate(
        self, variable: str, instance: str, metadata: Mapping[str, str] | None = None, *, exist_ok: bool = False
    ) -> Instance:
        check_name(instance, "instance name")
        meta = {str(k): str(v) for k, v in (metadata or {}).items()}
        with self.session() as session:
            var = session.scalar(select(VariableRow).where(VariableRow.name == variable))
            if var is None:
                raise NotFound(f"variable {variable!r} not found")
            existing = session.scalar(
                select(InstanceRow).where(InstanceRow.variable_id == var.id, InstanceRow.name == instance)
            )
            if existing is not None:
                if exist_ok and (metadata is None or existing.metadata_ == meta):
                    return _instance(existing)
                if exist_ok:
                    raise Conflict(f"instance {variable}:{instance} already exists with other metadata")
                raise Conflict(f"instance {variable}:{instance} already exists")
            row = InstanceRow(id=str(uuid.uuid4()), variable_id=var.id, name=instance, metadata_=meta)
            session.add(row)
            session.flush()
            return _instance(row)

    def variable(self, name: str) -> Variable:
        with self.session() as session:
            row = session.scalar(select(VariableRow).where(VariableRow.name == name))
            if row is None:
                raise NotFound(f"variable {name!r} not found")
            return self._variable(session, row)

    def variable_of_instance(self, instance_id: str) -> tuple[Variable, Instance]:
        with self.session() as session:
            found = session.execute(
                select(VariableRow, InstanceRow)
                .join(InstanceRow, InstanceRow.variable_id == VariableRow.id)
                .where(InstanceRow.id == instance_id)
            ).first()
            if found is None:
                raise NotFound(f"instance {instance_id!r} not found")
            return self._variable(session, found[0]), _instance(found[1])

    def list_variables(self, pattern: str = "*") -> list[Variable]:
        with self.session() as session:
            rows = session.scalars(
                select(VariableRow).where(_like(VariableRow.name, pattern)).order_by(VariableRow.name)
            ).all()
            return [self._variable(session, row) for row in rows]

    def _variable(self, session: Session, row: VariableRow) -> Variable:
        instances = session.scalars(
            select(InstanceRow).where(InstanceRow.variable_id == row.id).order_by(InstanceRow.name)
        ).all()
        return Variable(
            id=row.id,
            name=row.name,
            dformat=DFormat(row.dtype, null_to_nan(row.nodata), row.min_value, row.max_value),
            bands=tuple(row.bands),
            unit=row.unit,
            description=row.description,
            palette=row.palette,
            resampling=Resampling(row.resampling),
            instances=tuple(_instance(i) for i in instances),
        )

    # -- layers ------------------------------------------------------------------------------

    def resolve_layers(self, layers: Mapping[str, Any]) -> dict[str, str]:
        refs = {str(layer): LayerRef.of(value) for layer, value in layers.items()}
        resolved: dict[str, str] = {}
        missing: list[str] = []
        with self.session() as session:
            for layer, ref in refs.items():
                if ref.instance_id:
                    found = session.scalar(select(InstanceRow.id).where(InstanceRow.id == ref.instance_id))
                else:
                    found = session.scalar(
                        select(InstanceRow.id)
                        .join(VariableRow, InstanceRow.variable_id == VariableRow.id)
                        .where(VariableRow.name == ref.variable, InstanceRow.name == ref.instance)
                    )
                if found is None:
                    missing.append(f"{layer} ({ref.describe()})")
                else:
                    resolved[layer] = found
        if missing:
            raise NotFound(f"unknown layer(s) in the index: {', '.join(missing)}")
        return resolved

    # -- records -------------------------------------------------------------------------------

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
        query = select(RecordRow, AOIRow).join(AOIRow, RecordRow.aoi_id == AOIRow.id)
        if ids is not None:
            query = query.where(RecordRow.id.in_(list(ids)))
        if name:
            query = query.where(_like(RecordRow.name, name))
        if start is not None:
            query = query.where(RecordRow.time >= utc(start, "start"))
        if end is not None:
            query = query.where(RecordRow.time <= utc(end, "end"))
        area = as_geometry(footprint, "footprint") if footprint is not None else None
        if area is not None:
            min_x, min_y, max_x, max_y = area.bounds
            query = query.where(
                AOIRow.max_x >= min_x, AOIRow.min_x <= max_x, AOIRow.max_y >= min_y, AOIRow.min_y <= max_y
            )
        query = query.order_by(RecordRow.time, RecordRow.name, RecordRow.id)
        wanted = {str(k): str(v) for k, v in (tags or {}).items()}
        found: list[Record] = []
        with self.session() as session:
            for record_row, aoi_row in session.execute(query):
                if wanted and not _tags_match(record_row.tags, wanted):
                    continue
                geometry = shapely.from_wkt(aoi_row.wkt)
                if area is not None and not geometry.intersects(area):
                    continue
                found.append(_record(record_row, geometry))
                if limit is not None and len(found) >= limit:
                    break
        return found

    def create_records(self, records: Sequence[NewRecord]) -> list[CreatedRecord]:
        prepared = [_prepare_record(r) for r in records]
        results: list[CreatedRecord] = []
        with self.session() as session:
            for new, geometry, key in prepared:
                existing = _find_same_record(session, new.name, new.time, key)
                if existing is not None:
                    results.append(CreatedRecord(self._load_record(session, existing), created=False))
                    continue
                aoi_id = _ensure_aoi(session, geometry)
                record_id = str(uuid.uuid4())
                inserted = session.execute(
                    _insert_ignore(session, RecordRow)
                    .values(
                        id=record_id,
                        name=new.name,
                        time=new.time,
                        tags=dict(new.tags),
                        tags_key=key,
                        aoi_id=aoi_id,
                        created_at=database.utcnow(),
                    )
                    .returning(RecordRow.id)
                ).scalar_one_or_none()
                if inserted is None:  # created meanwhile by another ingestion: reuse it
                    existing = _find_same_record(session, new.name, new.time, key)
                    if existing is None:
                        raise Conflict(f"record {new.name!r} could not be created nor found")
                    results.append(CreatedRecord(self._load_record(session, existing), created=False))
                    continue
                results.append(CreatedRecord(_record_from(new, record_id, aoi_id, geometry), created=True))
        return results

    def delete_records(self, ids: Sequence[str]) -> int:
        wanted = sorted(set(ids))
        if not wanted:
            return 0
        with self.session() as session:
            used = session.scalars(
                select(DatasetRow.record_id).where(DatasetRow.record_id.in_(wanted)).distinct()
            ).all()
            if used:
                raise Conflict(f"cannot delete record(s) with indexed datasets: {', '.join(sorted(used))}")
            result = session.execute(delete(RecordRow).where(RecordRow.id.in_(wanted)))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def add_records_tags(self, ids: Sequence[str], tags: Mapping[str, str]) -> int:
        new_tags = {str(k): str(v) for k, v in tags.items()}
        wanted = sorted(set(ids))
        if not wanted or not new_tags:
            return 0
        updated = 0
        with self.session() as session:
            rows = session.scalars(select(RecordRow).where(RecordRow.id.in_(wanted)).with_for_update()).all()
            for row in rows:
                merged = {**row.tags, **new_tags}
                if merged == row.tags:
                    continue
                key = tags_key(merged)
                if key != row.tags_key and _find_same_record(session, row.name, row.time, key) is not None:
                    raise Conflict(f"adding these tags to record {row.id} would make it a duplicate of another record")
                session.execute(update(RecordRow).where(RecordRow.id == row.id).values(tags=merged, tags_key=key))
                updated += 1
        return updated

    def _load_record(self, session: Session, row: RecordRow) -> Record:
        wkt = session.scalar(select(AOIRow.wkt).where(AOIRow.id == row.aoi_id))
        return _record(row, shapely.from_wkt(wkt) if wkt else None)

    # -- datasets --------------------------------------------------------------------------

    def index_datasets(self, datasets: Sequence[DatasetToIndex]) -> None:
        unique = _dedupe(datasets)
        if not unique:
            return
        todo = self._new_datasets(unique)
        infos: dict[str, rasters.RasterInfo] = {}
        for dataset in todo:
            if dataset.uri not in infos:
                infos[dataset.uri] = rasters.inspect(dataset.uri, self.settings)
            rasters.check_dtype(dataset.uri, infos[dataset.uri], dataset.bands, dataset.dformat.dtype)
        with self.session() as session:
            for dataset in todo:
                if _existing_dataset(session, dataset) is not None:  # indexed meanwhile
                    continue
                info = infos[dataset.uri]
                session.execute(_insert_ignore(session, ContainerRow).values(uri=dataset.uri, managed=True))
                session.add(_dataset_row(dataset, info))
                session.flush()
            # Indexed again (its tile processed again): a withdrawn dataset counts again.
            for dataset in unique:
                session.execute(
                    update(DatasetRow)
                    .where(
                        DatasetRow.container_uri == dataset.uri,
                        DatasetRow.record_id == dataset.record_id,
                        DatasetRow.instance_id == dataset.instance_id,
                        DatasetRow.withdrawn.is_(True),
                    )
                    .values(withdrawn=False)
                )
        log.info("indexed %d dataset(s), %d already indexed", len(todo), len(unique) - len(todo))

    def withdraw_datasets(self, folders: Sequence[str], withdrawn: bool = True) -> set[str]:
        """Withdraw (or, `withdrawn=False`, bring back) the datasets of the files under `folders`:
        a withdrawn dataset is neither read nor published, its file stays. The records touched."""
        records: set[str] = set()
        with self.session() as session:
            for folder in folders:
                prefix = _escape_like(folder.rstrip("/") + "/") + "%"
                changed = session.execute(
                    update(DatasetRow)
                    .where(DatasetRow.container_uri.like(prefix, escape="\\"), DatasetRow.withdrawn.is_(not withdrawn))
                    .values(withdrawn=withdrawn)
                    .returning(DatasetRow.record_id)
                    .execution_options(synchronize_session=False)
                )
                records.update(changed.scalars())
        return records

    def _new_datasets(self, datasets: list[DatasetToIndex]) -> list[DatasetToIndex]:
        """Validate against what is stored; the datasets not indexed yet (identical ones are no-ops)."""
        with self.session() as session:
            record_ids = {d.record_id for d in datasets}
            instance_ids = {d.instance_id for d in datasets}
            known_records = set(session.scalars(select(RecordRow.id).where(RecordRow.id.in_(record_ids))))
            instances = {
                instance_id: len(bands)
                for instance_id, bands in session.execute(
                    select(InstanceRow.id, VariableRow.bands)
                    .join(VariableRow, InstanceRow.variable_id == VariableRow.id)
                    .where(InstanceRow.id.in_(instance_ids))
                )
            }
            missing = [f"record {r}" for r in sorted(record_ids - known_records)]
            missing += [f"instance {i}" for i in sorted(instance_ids - set(instances))]
            if missing:
                raise NotFound(f"cannot index: unknown {', '.join(missing)}")
            todo: list[DatasetToIndex] = []
            for dataset in datasets:
                if len(dataset.bands) != instances[dataset.instance_id]:
                    raise InvalidInput(
                        f"cannot index {dataset.uri}: {len(dataset.bands)} band(s) given, "
                        f"the variable has {instances[dataset.instance_id]}"
                    )
                if _existing_dataset(session, dataset) is None:
                    todo.append(dataset)
            return todo

    def datasets(
        self,
        *,
        record_ids: Sequence[str] | None = None,
        instance_ids: Sequence[str] | None = None,
        uri_prefix: str | None = None,
        include_withdrawn: bool = False,
    ) -> list[IndexedDataset]:
        """Indexed datasets, filtered; `uri_prefix` selects the files under a storage folder.

        Datasets withdrawn with their tile (see `withdraw_datasets`) only with `include_withdrawn`.
        """
        query = select(DatasetRow)
        if not include_withdrawn:
            query = query.where(DatasetRow.withdrawn.is_(False))
        if record_ids is not None:
            query = query.where(DatasetRow.record_id.in_(list(record_ids)))
        if instance_ids is not None:
            query = query.where(DatasetRow.instance_id.in_(list(instance_ids)))
        if uri_prefix:
            prefix = uri_prefix.rstrip("/") + "/"
            query = query.where(DatasetRow.container_uri.like(_escape_like(prefix) + "%", escape="\\"))
        query = query.order_by(DatasetRow.record_id, DatasetRow.container_uri, DatasetRow.instance_id)
        with self.session() as session:
            return [_indexed(row) for row in session.scalars(query)]

    def counts(self) -> dict[str, int]:
        """How many of each entity the index holds (for status displays)."""
        tables = {
            "variables": VariableRow,
            "instances": InstanceRow,
            "records": RecordRow,
            "containers": ContainerRow,
            "datasets": DatasetRow,
        }
        with self.session() as session:
            return {name: int(session.scalar(select(func.count()).select_from(t)) or 0) for name, t in tables.items()}


# -- helpers ----------------------------------------------------------------------------------


def _instance(row: InstanceRow) -> Instance:
    return Instance(id=row.id, name=row.name, metadata=dict(row.metadata_ or {}))


def _record(row: RecordRow, geometry: BaseGeometry | None) -> Record:
    return Record(id=row.id, name=row.name, time=row.time, tags=dict(row.tags), aoi_id=row.aoi_id, footprint=geometry)


def _record_from(new: NewRecord, record_id: str, aoi_id: str, geometry: BaseGeometry) -> Record:
    return Record(id=record_id, name=new.name, time=new.time, tags=dict(new.tags), aoi_id=aoi_id, footprint=geometry)


def _prepare_record(new: NewRecord) -> tuple[NewRecord, BaseGeometry, str]:
    if not isinstance(new.name, str) or not new.name.strip():
        raise InvalidInput(f"invalid record name {new.name!r}")
    if not isinstance(new.tags, Mapping):
        raise InvalidInput(f"invalid tags of record {new.name!r}: expected a mapping of strings")
    tags = {str(k): str(v) for k, v in new.tags.items()}
    geometry = new.geometry()
    minx, miny, maxx, maxy = geometry.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise InvalidInput(f"invalid footprint of record {new.name!r}: not in EPSG:4326 longitude/latitude")
    normalized = NewRecord(new.name, utc(new.time, f"time of record {new.name!r}"), tags, geometry)
    return normalized, geometry, tags_key(tags)


def _find_same_record(session: Session, name: str, time: datetime, key: str) -> RecordRow | None:
    return session.scalar(
        select(RecordRow).where(RecordRow.name == name, RecordRow.time == time, RecordRow.tags_key == key)
    )


def _aoi_hash(geometry: BaseGeometry) -> str:
    normalized = shapely.normalize(shapely.set_precision(geometry, 1e-9))
    return hashlib.sha256(shapely.to_wkb(normalized, output_dimension=2)).hexdigest()


def _ensure_aoi(session: Session, geometry: BaseGeometry) -> str:
    digest = _aoi_hash(geometry)
    found = session.scalar(select(AOIRow.id).where(AOIRow.hash == digest))
    if found is not None:
        return found
    minx, miny, maxx, maxy = geometry.bounds
    session.execute(
        _insert_ignore(session, AOIRow).values(
            id=str(uuid.uuid4()),
            hash=digest,
            wkt=geometry.wkt,
            min_x=minx,
            min_y=miny,
            max_x=maxx,
            max_y=maxy,
        )
    )
    found = session.scalar(select(AOIRow.id).where(AOIRow.hash == digest))
    if found is None:
        raise Conflict("footprint could not be stored")
    return found


def _insert_ignore(session: Session, table: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING on both backends (concurrent ingestions race here)."""
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert(table).on_conflict_do_nothing()
    if session.get_bind().dialect.name == "sqlite":
        return sqlite_insert(table).on_conflict_do_nothing()
    return insert(table)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(column: Any, pattern: str) -> Any:
    """A name pattern with * and ? (Geocube's), as an escaped SQL LIKE."""
    if "*" not in pattern and "?" not in pattern:
        return column == pattern
    escaped = _escape_like(pattern).replace("*", "%").replace("?", "_")
    return column.like(escaped, escape="\\")


def _tags_match(tags: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    """Every wanted tag is present; values may use * and ? (Geocube's tag filters)."""
    for key, value in wanted.items():
        if key not in tags:
            return False
        if ("*" in value or "?" in value) and fnmatch.fnmatchcase(tags[key], value):
            continue
        if tags[key] != value:
            return False
    return True


def _dedupe(datasets: Sequence[DatasetToIndex]) -> list[DatasetToIndex]:
    """One dataset per (file, record, instance); two different ones for the same key conflict."""
    seen: dict[tuple[str, str, str], DatasetToIndex] = {}
    for dataset in datasets:
        _check_dataset(dataset)
        key = (dataset.uri, dataset.record_id, dataset.instance_id)
        previous = seen.get(key)
        if previous is None:
            seen[key] = dataset
        elif _describe(previous) != _describe(dataset):
            raise Conflict(f"dataset {dataset.uri} given twice with different parameters")
    return list(seen.values())


def _check_dataset(dataset: DatasetToIndex) -> None:
    if not dataset.uri:
        raise InvalidInput("cannot index a dataset without URI")
    if not dataset.bands or any(int(b) < 1 for b in dataset.bands):
        raise InvalidInput(f"cannot index {dataset.uri}: bands must be 1-based band numbers")
    for name in ("real_min", "real_max", "exponent"):
        value = getattr(dataset, name)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidInput(f"cannot index {dataset.uri}: {name} must be a finite number")
    if dataset.exponent <= 0:
        raise InvalidInput(f"cannot index {dataset.uri}: exponent must be positive")


def _describe(dataset: DatasetToIndex) -> tuple[Any, ...]:
    fmt = dataset.dformat
    return (
        tuple(int(b) for b in dataset.bands),
        str(DFormat(fmt.numpy_dtype.name, fmt.nodata, fmt.min, fmt.max)),
        float(dataset.real_min),
        float(dataset.real_max),
        float(dataset.exponent),
    )


def _describe_row(row: DatasetRow) -> tuple[Any, ...]:
    fmt = DFormat(row.dtype, null_to_nan(row.nodata), row.min_value, row.max_value)
    return (tuple(int(b) for b in row.bands), str(fmt), row.real_min, row.real_max, row.exponent)


def _existing_dataset(session: Session, dataset: DatasetToIndex) -> DatasetRow | None:
    """The stored dataset for this file, record and instance; Conflict if it differs."""
    row = session.scalar(
        select(DatasetRow).where(
            and_(
                DatasetRow.container_uri == dataset.uri,
                DatasetRow.record_id == dataset.record_id,
                DatasetRow.instance_id == dataset.instance_id,
            )
        )
    )
    if row is None:
        return None
    stored, given = _describe_row(row), _describe(dataset)
    if stored != given:
        names = ("bands", "dformat", "real_min", "real_max", "exponent")
        diffs = [f"{n} {a!r} (indexed) vs {b!r}" for n, a, b in zip(names, stored, given, strict=True) if a != b]
        raise Conflict(f"dataset {dataset.uri} is already indexed differently: {'; '.join(diffs)}")
    return row


def _dataset_row(dataset: DatasetToIndex, info: rasters.RasterInfo) -> DatasetRow:
    fmt = dataset.dformat
    return DatasetRow(
        id=str(uuid.uuid4()),
        record_id=dataset.record_id,
        instance_id=dataset.instance_id,
        container_uri=dataset.uri,
        bands=[int(b) for b in dataset.bands],
        dtype=fmt.numpy_dtype.name,
        nodata=nan_to_null(fmt.nodata),
        min_value=fmt.min,
        max_value=fmt.max,
        real_min=float(dataset.real_min),
        real_max=float(dataset.real_max),
        exponent=float(dataset.exponent),
        crs=info.crs,
        transform=list(info.transform),
        height=info.shape[0],
        width=info.shape[1],
        footprint=info.footprint.wkt,
        created_at=database.utcnow(),
    )


def _indexed(row: DatasetRow) -> IndexedDataset:
    fmt = DFormat(row.dtype, null_to_nan(row.nodata), row.min_value, row.max_value)
    t = row.transform
    return IndexedDataset(
        id=row.id,
        record_id=row.record_id,
        instance_id=row.instance_id,
        uri=row.container_uri,
        bands=tuple(int(b) for b in row.bands),
        mapping=ValueMapping(fmt, row.real_min, row.real_max, row.exponent),
        crs=row.crs,
        transform=(t[0], t[1], t[2], t[3], t[4], t[5]),
        shape=(row.height, row.width),
        footprint=shapely.from_wkt(row.footprint),
    )
