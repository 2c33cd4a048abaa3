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
from pathlib import Path, PurePosixPath
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
from geocube_ingest.processing import conditions, policy
from geocube_ingest.settings import Settings, get_settings

PRODUCT_LAYER = "product"
# Upstream's name of the downloaded product; we treat both spellings alike.
PRODUCT_LAYERS = frozenset({PRODUCT_LAYER, "__product__"})
ANY_EXTENSION = "*"
# A BEAM-DIMAP product (SNAP's format) is `X.dim` and its folder `X.data`: they travel together.
COMPANION_EXTENSIONS = {"dim": "data"}
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


def _adjusts_objects(adjust: Callable[[type[BaseModel], dict[str, Any]], dict[str, Any]]) -> Any:
    """A "before" model validator that adjusts a copy of a JSON object; anything else is left to pydantic."""

    def validator(cls: type[BaseModel], data: Any) -> Any:
        return adjust(cls, dict(data)) if isinstance(data, dict) else data

    return model_validator(mode="before")(validator)  # a classmethod: its first argument is `cls`


# Upstream's Go code writes every key of every argument type, the unused ones empty.
_ARG_KEYS = ("value", "tile_index", "layer", "extension")


class _ArgModel(_Model):
    @_adjusts_objects
    def _unused_upstream_keys(cls: type[BaseModel], fields: dict[str, Any]) -> dict[str, Any]:
        """Drop the keys of other argument types when empty (as Go writes them); refuse them when set."""
        for key in set(_ARG_KEYS) - set(cls.model_fields) & set(fields):
            if fields[key] not in ("", 0, None):
                raise ValueError(f"{key!r} is not used by an argument of type {fields.get('type')!r}")
            del fields[key]
        return fields


class FixedArg(_ArgModel):
    type: Literal["fixed"]
    value: Text


class ConfigArg(_ArgModel):
    type: Literal["config"]
    value: Name


class TileArg(_ArgModel):
    type: Literal["tile"]
    value: Annotated[str, AfterValidator(_known(TILE_KEYS, "tile value"))]


class InArg(_ArgModel):
    """A local input file: `layer.extension` of the tile in slot `tile_index`."""

    type: Literal["in"]
    tile_index: int = Field(default=0, ge=0, le=SLOTS - 1)
    layer: Name
    extension: Name


class OutArg(_ArgModel):
    """A local output file of the current tile; layer `*` is a pattern the step fills in."""

    type: Literal["out"]
    layer: Name
    extension: Name


Arg = Annotated[FixedArg | ConfigArg | TileArg | InArg | OutArg, Field(discriminator="type")]
DFormatArg = Annotated[FixedArg | ConfigArg, Field(discriminator="type")]


def _check_envs(values: list[str]) -> list[str]:
    for item in values:
        key, sep, _ = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{item!r} is not KEY=VALUE")
    return values


Envs = Annotated[list[str], AfterValidator(_check_envs)]


class Step(_Model):
    engine: Name
    command: Name
    args: dict[str, Arg] = Field(default_factory=dict)
    condition: TileCondition = "pass"
    # Upstream's docs give steps their own "KEY=VALUE" envs (added to the graph's).
    envs: Envs = Field(default_factory=list)

    @_adjusts_objects
    def _null_args(cls: type[BaseModel], fields: dict[str, Any]) -> dict[str, Any]:
        if "args" in fields and fields["args"] is None:
            fields["args"] = {}
        if "envs" in fields and fields["envs"] is None:
            fields["envs"] = []
        return fields


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

    @_adjusts_objects
    def _upstream_shapes(cls: type[BaseModel], fields: dict[str, Any]) -> dict[str, Any]:
        """A bare dformat string is fixed; Go writes unset numbers as 0 and an unset datatype as "undefined"."""
        if isinstance(fields.get("dformat_out"), str):
            fields["dformat_out"] = {"type": "fixed", "value": fields["dformat_out"]}
        for key in ("exponent", "nbands"):
            if fields.get(key) == 0:
                del fields[key]
        if fields.get("datatype") in ("undefined", "", 0):
            fields["datatype"] = None
        return fields

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
    # "KEY=VALUE" environment variables given to python scripts, cmd, snap and docker steps.
    envs: Envs = Field(default_factory=list)

    @_adjusts_objects
    def _upstream_nulls(cls: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
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


def _find_by_name(name: str, dirs: list[Path]) -> Path | None:
    """`<name>.json` (or a clean relative path) in the graph folders; upstream's `library/.../X.json` is X."""
    relative = PurePosixPath(name)
    candidates = [d / relative for d in dirs]
    if relative.suffix == "":
        candidates = [*(d / f"{name}.json" for d in dirs), *candidates]
    candidates += [d / f"{relative.stem}.json" for d in dirs]
    return next((c for c in candidates if c.is_file()), None)


def _unknown(name: str, settings: Settings) -> NotFound:
    known = sorted(list_graphs(settings))
    shown = ", ".join(known[:30]) + (", ..." if len(known) > 30 else "")
    return NotFound(f"unknown graph {name[:120]!r} (known: {shown or 'none'})")


def resolve_graph(name: str, settings: Settings | None = None, *, trusted: bool = False) -> str:
    """The file or URL a graph reference designates.

    A name (`ExtractS2Bands`, or a clean relative path such as upstream's
    `library/ExtractS2Bands.json`) is looked up in the graph folders. Paths, URLs and `data:`
    graphs are input's only when `graphs.allowed_sources` allows them; `trusted` (the
    operator's own command line) also accepts any local file.
    """
    settings = settings or get_settings()
    name = name.strip()
    if not name:
        raise NotFound("no graph name given")
    kind = policy.ref_kind(name)
    dirs = graph_dirs(settings)
    if kind == "name":
        if trusted and Path(name).suffix and Path(name).is_file():
            return str(Path(name).absolute())
        found = _find_by_name(name, dirs)
        if found is None:
            raise _unknown(name, settings)
        return str(found)
    if not trusted and not policy.source_allowed(name, settings, dirs):
        raise policy.refusal(name)
    if kind in ("url", "data"):
        return name
    path = policy.local_path(name)
    if not path.is_file():
        raise NotFound(f"graph {name[:120]!r} not found")
    return str(path)


def read_source(source: str, settings: Settings) -> bytes:
    """The bytes of a resolved graph (see `resolve_graph`): a local file, or a URL through storage."""
    if policy.ref_kind(source) not in ("url", "data"):
        return Path(source).read_bytes()
    from geocube_ingest import storage

    try:
        with storage.open(source, "rb", settings=settings) as handle:
            data: bytes = handle.read()
            return data
    except FileNotFoundError:
        raise NotFound(f"graph {source[:120]} not found") from None
    except (ConnectionError, TimeoutError, OSError) as exc:
        raise TemporaryError(f"graph {source[:120]}: {type(exc).__name__}") from exc


def load_graph(name: str, settings: Settings | None = None, *, trusted: bool = False) -> LoadedGraph:
    """Find, read and parse a graph (structure only: see `validate.validate_graph`)."""
    settings = settings or get_settings()
    source = resolve_graph(name, settings, trusted=trusted)
    remote = policy.ref_kind(source) in ("url", "data")
    label = source[:120] if remote else source
    graph = parse_graph(read_source(source, settings), label)
    base_dir = None if remote else Path(source).parent
    return LoadedGraph(name=name, source=label, graph=graph, base_dir=base_dir)


def companion_extension(extension: str) -> str | None:
    """The extension of the folder stored, imported and deleted with a file of this extension."""
    return COMPANION_EXTENSIONS.get(extension)


def is_product(layer: str) -> bool:
    return layer in PRODUCT_LAYERS
