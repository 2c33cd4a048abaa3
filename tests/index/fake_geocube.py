"""A stand-in for the Airbus Geocube Python client and its server (not installable here).

Same module layout (`geocube.Client`, `geocube.entities`, `geocube.utils.GeocubeError`),
method names and signatures as the client, and the server's behaviours the ingester
relies on: ALREADY_EXISTS for an existing variable, AOI (details end with its id), record
(same name, tags and date) or container; NOT_FOUND for unknown ids; records with datasets
cannot be deleted; `fail_index` makes the next IndexDatasets calls answer UNAVAILABLE.
"""

from __future__ import annotations

import enum
import fnmatch
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import shapely
from shapely.geometry import MultiPolygon


class GeocubeError(Exception):
    def __init__(self, func: str, codename: str, details: str):
        self.func, self.codename, self.details = func, codename, details
        super().__init__(f"Error {func} [{codename}]: {details}")

    def is_already_exists(self) -> bool:
        return self.codename == "ALREADY_EXISTS"


class Resampling(enum.Enum):
    undefined = 0
    near = 1
    bilinear = 2
    cubic = 3
    cubicspline = 4
    lanczos = 5
    average = 6
    mode = 7
    max = 8
    min = 9
    med = 10
    q1 = 11
    q3 = 12


@dataclass(frozen=True)
class DataFormat:
    dtype: str
    min_value: float
    max_value: float
    no_data: float

    @classmethod
    def from_user(cls, args: Any) -> DataFormat:
        dtype, no_data, low, high = args
        return cls(str(dtype), float(low), float(high), float(no_data))


@dataclass
class Instance:
    id: str
    name: str
    metadata: dict[str, str]


@dataclass
class VariableInstance:
    variable: Variable
    instance: Instance

    @property
    def instance_id(self) -> str:
        return self.instance.id

    @property
    def instance_name(self) -> str:
        return self.instance.name

    @property
    def metadata(self) -> dict[str, str]:
        return self.instance.metadata


@dataclass
class Variable:
    server: Server
    id: str
    name: str
    unit: str
    description: str
    dformat: DataFormat
    bands: list[str]
    palette: str
    resampling_alg: Resampling
    instances: dict[str, Instance] = field(default_factory=dict)

    def instance(self, name: str) -> VariableInstance:
        if name not in self.instances:
            raise GeocubeError("instance", "NOT EXISTS", f"Instance {name} does not exist")
        return VariableInstance(self, self.instances[name])

    def instantiate(self, name: str, metadata: dict[str, str]) -> VariableInstance:
        if name in self.instances:
            raise GeocubeError("instantiate", "ALREADY EXISTS", "use add_metadata")
        made = Instance(str(uuid.uuid4()), name, dict(metadata))
        self.instances[name] = made
        self.server.variables[self.name].instances[name] = made
        return VariableInstance(self, made)


@dataclass
class Record:
    id: str
    name: str
    datetime: datetime  # naive UTC, as the client's Timestamp.ToDatetime() gives
    tags: dict[str, str]
    aoi_id: str
    _aoi: MultiPolygon = field(default_factory=MultiPolygon)


@dataclass
class Dataset:
    record_id: str
    instance_id: str
    container_subdir: str = ""
    bands: list[int] | None = None
    dformat: DataFormat | None = None
    min_out: float | None = None
    max_out: float | None = None
    exponent: float = 1


@dataclass
class Container:
    uri: str
    managed: bool
    datasets: list[Dataset]


@dataclass
class Server:
    variables: dict[str, Variable] = field(default_factory=dict)
    aois: dict[str, MultiPolygon] = field(default_factory=dict)
    records: dict[str, Record] = field(default_factory=dict)
    containers: dict[str, Container] = field(default_factory=dict)
    fail_index: int = 0
    calls: list[str] = field(default_factory=list)


class Client:
    """The client's methods used by the ingester, against an in-memory server."""

    server = Server()

    def __init__(self, uri: str, secure: bool = False, api_key: str = "", verbose: bool = True):
        self.uri, self.secure, self.api_key = uri, secure, api_key

    def _log(self, name: str) -> None:
        self.server.calls.append(name)

    def variable(self, name: str | None = None, id_: str | None = None, instance_id: str | None = None) -> Any:
        self._log("variable")
        for variable in self.server.variables.values():
            if name and variable.name == name:
                return _copy(variable)
            if instance_id:
                for instance in variable.instances.values():
                    if instance.id == instance_id:
                        return VariableInstance(_copy(variable), instance)
        raise GeocubeError("variable", "NOT_FOUND", f"variable {name or instance_id} not found")

    def create_variable(
        self,
        name: str,
        dformat: Any,
        bands: list[str],
        unit: str = "",
        description: str = "",
        palette: str = "",
        resampling_alg: Resampling = Resampling.bilinear,
    ) -> Variable:
        self._log("create_variable")
        if name in self.server.variables:
            raise GeocubeError("create_variable", "ALREADY_EXISTS", f"variable {name} exists")
        variable = Variable(
            self.server, str(uuid.uuid4()), name, unit, description, DataFormat.from_user(dformat), bands, palette,
            resampling_alg,
        )  # fmt: skip
        self.server.variables[name] = variable
        return _copy(variable)

    def list_variables(self, name: str = "", limit: int = 0, page: int = 0) -> list[Variable]:
        self._log("list_variables")
        return [_copy(v) for v in self.server.variables.values() if fnmatch.fnmatchcase(v.name, name or "*")]

    def create_aoi(self, aoi: MultiPolygon) -> str:
        self._log("create_aoi")
        for aoi_id, existing in self.server.aois.items():
            if shapely.normalize(existing).equals_exact(shapely.normalize(aoi), 1e-9):
                raise GeocubeError("create_aoi", "ALREADY_EXISTS", f"aoi already exists: {aoi_id}")
        aoi_id = str(uuid.uuid4())
        self.server.aois[aoi_id] = aoi
        return aoi_id

    def create_records(
        self, aoi_ids: list[str], names: list[str], tags: list[dict[str, str]], dates: list[datetime]
    ) -> list[str]:
        self._log("create_records")
        ids = []
        for aoi_id, name, tag, date in zip(aoi_ids, names, tags, dates, strict=True):
            naive = date.astimezone(UTC).replace(tzinfo=None)
            if aoi_id not in self.server.aois:
                raise GeocubeError("create_records", "NOT_FOUND", f"aoi {aoi_id}")
            for record in self.server.records.values():
                if (record.name, record.tags, record.datetime) == (name, tag, naive):
                    raise GeocubeError("create_records", "ALREADY_EXISTS", f"record {record.id}")
            record = Record(str(uuid.uuid4()), name, naive, dict(tag), aoi_id, self.server.aois[aoi_id])
            self.server.records[record.id] = record
            ids.append(record.id)
        return ids

    def list_records(
        self,
        name: str = "",
        tags: dict[str, str] | None = None,
        from_time: datetime | None = None,
        to_time: datetime | None = None,
        aoi: MultiPolygon | None = None,
        limit: int = 10000,
        page: int = 0,
        with_aoi: bool = False,
    ) -> list[Record]:
        self._log("list_records")
        found = []
        for record in self.server.records.values():
            moment = record.datetime.replace(tzinfo=UTC)
            if name and not fnmatch.fnmatchcase(record.name, name):
                continue
            if tags and any(record.tags.get(k) != v for k, v in tags.items()):
                continue
            if (from_time and moment < from_time) or (to_time and moment > to_time):
                continue
            if aoi is not None and not record._aoi.intersects(aoi):
                continue
            found.append(Record(**{**record.__dict__, "_aoi": record._aoi if with_aoi else MultiPolygon()}))
        return found[:limit] if limit else found

    def add_records_tags(self, records: list[str], tags: dict[str, str]) -> int:
        self._log("add_records_tags")
        for record_id in records:
            self.server.records[record_id].tags.update(tags)
        return len(records)

    def delete_records(self, records: list[str]) -> None:
        self._log("delete_records")
        used = {d.record_id for c in self.server.containers.values() for d in c.datasets}
        if used & set(records):
            raise GeocubeError("delete_records", "FAILED_PRECONDITION", "records have datasets")
        for record_id in records:
            self.server.records.pop(record_id, None)

    def index(self, containers: list[Container]) -> None:
        self._log("index")
        if self.server.fail_index > 0:
            self.server.fail_index -= 1
            raise GeocubeError("index", "UNAVAILABLE", "connection reset")
        instances = {i.id for v in self.server.variables.values() for i in v.instances.values()}
        for container in containers:
            for dataset in container.datasets:
                if dataset.record_id not in self.server.records or dataset.instance_id not in instances:
                    raise GeocubeError("index", "NOT_FOUND", f"record or instance of {container.uri}")
            if container.uri in self.server.containers:
                raise GeocubeError("index", "ALREADY_EXISTS", f"container {container.uri} exists")
            self.server.containers[container.uri] = container


def _copy(variable: Variable) -> Variable:
    return Variable(**{**variable.__dict__, "instances": dict(variable.instances)})


def install(monkeypatch: Any) -> Server:
    """Put the fake `geocube` package in sys.modules; a fresh server for the test."""
    package = ModuleType("geocube")
    entities = ModuleType("geocube.entities")
    utils = ModuleType("geocube.utils")
    for name, value in {
        "Container": Container,
        "Dataset": Dataset,
        "DataFormat": DataFormat,
        "Resampling": Resampling,
        "Variable": Variable,
        "VariableInstance": VariableInstance,
        "Record": Record,
    }.items():
        setattr(entities, name, value)
    utils.GeocubeError = GeocubeError  # type: ignore[attr-defined]
    package.Client = Client  # type: ignore[attr-defined]
    package.entities = entities  # type: ignore[attr-defined]
    package.utils = utils  # type: ignore[attr-defined]
    server = Server()
    Client.server = server
    monkeypatch.setitem(sys.modules, "geocube", package)
    monkeypatch.setitem(sys.modules, "geocube.entities", entities)
    monkeypatch.setitem(sys.modules, "geocube.utils", utils)
    return server
