"""The processing graph JSON (upstream's shape) and where graphs are found.

A graph is `config` defaults (overridden by the payload's `graph_config`), ordered
`processing_steps`, and `in_files` / `out_files` as three lists: slot 0 is the tile,
1 its previous, 2 its reference. Graphs resolve by name from the configured folders, the
repository's `graphs/`, the copy packaged in the wheel, or by path / URL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from geocube_ingest.errors import FatalError, FieldError, NotFound, TemporaryError
from geocube_ingest.index.base import DFormat
from geocube_ingest.processing import conditions
from geocube_ingest.settings import Settings, get_settings

PRODUCT_LAYER = "product"
# Upstream's name of the downloaded product; we treat both spellings alike.
PRODUCT_LAYERS = frozenset({PRODUCT_LAYER, "__product__"})
ANY_EXTENSION = "*"
TILE_KEYS = ("swath", "number", "date", "cohdate", "scene", "constellation", "tile", "aoi")
WORKDIR_KEY = "workdir"
SLOTS = 3

# Upstream's numeric data types of legacy `datatype` fields.
_LEGACY_DTYPES = {
    1: "uint8",
    2: "uint16",
    3: "uint32",
    4: "int16",
    5: "int32",
    6: "float32",
    7: "float64",
    8: "complex64",
}


class GraphError(FieldError):
    """A graph that cannot be parsed or is inconsistent; lists every problem with its location."""

    def __init__(self, source: str, problems: Iterable[tuple[str, str]]):
        self.source = source
        super().__init__(f"graph {source}", problems)


def _as_text(value: Any) -> Any:
    """Upstream config values are strings; numbers and booleans typed bare in JSON are accepted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _default_pass(value: Any) -> Any:
    return "pass" if value in (None, "") else value


def _known(allowed: tuple[str, ...], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"unknown {what} {value!r} (expected one of {', '.join(allowed)})")
        return value

    return check


Text = Annotated[str, BeforeValidator(_as_text)]
TileCondition = Annotated[
    str, BeforeValidator(_default_pass), AfterValidator(_known(tuple(conditions.TILE_CONDITIONS), "tile condition"))
]
AnyCondition = Annotated[
    str, BeforeValidator(_default_pass), AfterValidator(_known(conditions.ALL_CONDITIONS, "condition"))
]
ErrorCondition = Annotated[
    str,
    BeforeValidator(_default_pass),
    AfterValidator(_known(("pass", *conditions.ERROR_CONDITIONS), "error condition")),
]
Name = Annotated[str, Field(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FixedArg(_Model):
    type: Literal["fixed"]
    value: Text


class ConfigArg(_Model):
    type: Literal["config"]
    value: Name


class TileArg(_Model):
    type: Literal["tile"]
    value: Annotated[str, AfterValidator(_known(TILE_KEYS, "tile value"))]


class InArg(_Model):
    """A local input file: `layer.extension` of the tile in slot `tile_index`."""

    type: Literal["in"]
    tile_index: int = Field(default=0, ge=0, le=SLOTS - 1)
    layer: Name
    extension: Name


class OutArg(_Model):
    """A local output file of the current tile; layer `*` is a pattern the step fills in."""

    type: Literal["out"]
    layer: Name
    extension: Name


Arg = Annotated[FixedArg | ConfigArg | TileArg | InArg | OutArg, Field(discriminator="type")]
DFormatArg = Annotated[FixedArg | ConfigArg, Field(discriminator="type")]


class Step(_Model):
    engine: Name
    command: Name
    args: dict[str, Arg] = Field(default_factory=dict)
    condition: TileCondition = "pass"

    @model_validator(mode="before")
    @classmethod
    def _null_args(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("args") is None:
            data = {**data, "args": {}}
        return data


class InFile(_Model):
    layer: Name
    extension: Name
    condition: TileCondition = "pass"


Action = Literal["to_ignore", "to_create", "to_index", "to_delete"]


class OutFile(_Model):
    layer: Name
    extension: Name
    action: Action = "to_ignore"
    condition: AnyCondition = "pass"
    error_condition: ErrorCondition = "pass"
    # "dtype,nodata,min,max": fixed or from config (a bare string is a fixed value).
    dformat_out: DFormatArg | None = None
    # Legacy spelling of the data format (older upstream graphs).
    datatype: int | str | None = None
    nodata: float | None = None
    min_value: float | None = None
    max_value: float | None = None
    # Real values of the data format's min and max (Geocube's "external" range).
    ext_min_value: float | None = None
    ext_max_value: float | None = None
    exponent: float = Field(default=1.0, gt=0)
    nbands: int = Field(default=1, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _bare_dformat(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("dformat_out"), str):
            data = {**data, "dformat_out": {"type": "fixed", "value": data["dformat_out"]}}
        return data

    def dformat_text(self, config: Mapping[str, str]) -> str | None:
        """The `dtype,nodata,min,max` text of this output, None when it has none."""
        if self.dformat_out is not None:
            if isinstance(self.dformat_out, FixedArg):
                return self.dformat_out.value
            if self.dformat_out.value not in config:
                raise FatalError(f"output {self.layer}: config key {self.dformat_out.value!r} (dformat_out) is not set")
            return config[self.dformat_out.value]
        if self.datatype in (None, 0, ""):
            return None
        dtype = _LEGACY_DTYPES.get(self.datatype, "") if isinstance(self.datatype, int) else str(self.datatype)
        return f"{dtype},{self.nodata or 0},{self.min_value or 0},{self.max_value or 0}"

    def dformat(self, config: Mapping[str, str]) -> DFormat | None:
        text = self.dformat_text(config)
        return None if text is None else DFormat.parse(text)


def _pad_slots(value: Any) -> Any:
    if value is None:
        return [[] for _ in range(SLOTS)]
    if isinstance(value, list):
        value = [[] if v is None else v for v in value]
        if len(value) < SLOTS:
            return [*value, *([] for _ in range(SLOTS - len(value)))]
    return value


def _empty_slots() -> list[list[Any]]:
    return [[] for _ in range(SLOTS)]


def _three(value: list[Any]) -> list[Any]:
    if len(value) != SLOTS:
        raise ValueError(f"expected at most {SLOTS} lists (0 current tile, 1 previous, 2 reference), got {len(value)}")
    return value


class Graph(_Model):
    description: str = ""
    config: dict[str, Text] = Field(default_factory=dict)
    processing_steps: list[Step] = Field(default_factory=list)
    in_files: Annotated[list[list[InFile]], BeforeValidator(_pad_slots), AfterValidator(_three)] = Field(
        default_factory=_empty_slots
    )
    out_files: Annotated[list[list[OutFile]], BeforeValidator(_pad_slots), AfterValidator(_three)] = Field(
        default_factory=_empty_slots
    )
    # "KEY=VALUE" environment variables given to python/cmd/snap steps.
    envs: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _upstream_nulls(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key in ("config", "processing_steps", "envs"):
            if key in data and data[key] is None:
                data.pop(key)
        # Older upstream graphs keep output conditions in a parallel list.
        legacy = data.pop("out_files_conditions", None)
        if isinstance(legacy, list) and isinstance(data.get("out_files"), list):
            data["out_files"] = [
                [
                    {
                        **f,
                        "condition": f.get("condition")
                        or (legacy[i][j] if i < len(legacy) and j < len(legacy[i]) else None),
                    }
                    if isinstance(f, dict)
                    else f
                    for j, f in enumerate(files or [])
                ]
                for i, files in enumerate(data["out_files"])
            ]
        return data

    def resolved_config(
        self, overrides: Mapping[str, Any] | None = None, workdir: Path | None = None
    ) -> dict[str, str]:
        """Defaults, then the payload's `graph_config`, then `workdir` (upstream injects it)."""
        config = dict(self.config)
        for key, value in (overrides or {}).items():
            config[str(key)] = str(_as_text(value))
        if workdir is not None:
            config[WORKDIR_KEY] = str(workdir)
        return config


@dataclass(frozen=True)
class LoadedGraph:
    name: str
    source: str
    graph: Graph
    # Folder of the graph file: relative step commands are looked up there first.
    base_dir: Path | None


def _loc(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    tags = {"fixed", "config", "tile", "in", "out"}
    for i, item in enumerate(loc):
        if isinstance(item, int):
            parts.append(f"[{item}]")
            continue
        # Drop the discriminator pydantic inserts for tagged unions.
        if item in tags and i >= 1 and ((i >= 2 and loc[i - 2] == "args") or loc[i - 1] == "dformat_out"):
            continue
        if item.startswith("function-"):
            continue
        parts.append(("." if parts else "") + item)
    return "".join(parts) or "(graph)"


def validation_problems(error: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for err in error.errors(include_url=False):
        message = err["msg"].removeprefix("Value error, ")
        problems.append((_loc(tuple(err["loc"])), message))
    return problems


def parse_graph(data: str | bytes | Mapping[str, Any], source: str = "<graph>") -> Graph:
    """Parse a graph document; every structural problem is reported with its location."""
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise GraphError(source, [(f"line {exc.lineno} column {exc.colno}", f"not JSON: {exc.msg}")]) from None
    if not isinstance(data, Mapping):
        raise GraphError(source, [("(graph)", "a graph is a JSON object")])
    try:
        return Graph.model_validate(dict(data))
    except ValidationError as exc:
        raise GraphError(source, validation_problems(exc)) from None


def repo_graph_dir() -> Path:
    """`graphs/` of a source checkout (absent in an installed wheel)."""
    return Path(__file__).resolve().parents[2] / "graphs"


def packaged_graph_dir() -> Path:
    """The copy of `graphs/` the wheel carries (hatch force-include)."""
    return Path(__file__).resolve().parents[1] / "_graphs"


def graph_dirs(settings: Settings | None = None) -> list[Path]:
    """Where graph names are looked up, first wins: configured folders, then the library."""
    settings = settings or get_settings()
    dirs = [Path(d).expanduser() for d in settings.processing.graph_dirs]
    dirs += [repo_graph_dir(), packaged_graph_dir()]
    return [d for d in dirs if d.is_dir()]


def list_graphs(settings: Settings | None = None) -> dict[str, Path]:
    """Every graph known by name, with the file that name resolves to."""
    found: dict[str, Path] = {}
    for folder in graph_dirs(settings):
        for path in sorted(folder.glob("*.json")):
            found.setdefault(path.stem, path)
    return found


def _is_url(text: str) -> bool:
    return "://" in text and not text.startswith("file://")


def resolve_graph(name: str, settings: Settings | None = None) -> str:
    """The file or URL a graph name designates.

    A bare name (`ExtractS2Bands`) is looked up as `<name>.json` in `graph_dirs`; a path is
    taken as is (relative ones also inside `graph_dirs`); upstream spellings such as
    `library/ExtractS2Bands.json` fall back to the library graph of the same name.
    """
    name = name.strip()
    if not name:
        raise NotFound("no graph name given")
    if _is_url(name):
        return name
    if name.startswith("file://"):
        name = name.removeprefix("file://")
    dirs = graph_dirs(settings)
    path = Path(name).expanduser()
    candidates = [path] if path.is_absolute() else [Path.cwd() / path, *(d / path for d in dirs)]
    if path.suffix == "":
        candidates = [*(d / f"{name}.json" for d in dirs), *candidates]
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    stem = path.stem
    for folder in dirs:
        if (folder / f"{stem}.json").is_file():
            return str(folder / f"{stem}.json")
    searched = ", ".join(str(d) for d in dirs) or "no graph folder"
    raise NotFound(f"unknown graph {name!r} (searched {searched})")


def _read_source(source: str, settings: Settings) -> bytes:
    if not _is_url(source):
        return Path(source).read_bytes()
    from geocube_ingest import storage

    try:
        with storage.open(source, "rb", settings=settings) as handle:
            data: bytes = handle.read()
            return data
    except FileNotFoundError:
        raise NotFound(f"graph {source} not found") from None
    except (ConnectionError, TimeoutError, OSError) as exc:
        raise TemporaryError(f"graph {source}: {exc}") from exc


def load_graph(name: str, settings: Settings | None = None) -> LoadedGraph:
    """Find, read and parse a graph (structure only: see `validate.validate_graph`)."""
    settings = settings or get_settings()
    source = resolve_graph(name, settings)
    graph = parse_graph(_read_source(source, settings), source)
    base_dir = None if _is_url(source) else Path(source).resolve().parent
    return LoadedGraph(name=name, source=source, graph=graph, base_dir=base_dir)


def is_product(layer: str) -> bool:
    return layer in PRODUCT_LAYERS
