"""What graphs input may name, and what their steps may run: the operator decides.

Payloads, scenes/tiles files and `PUT .../data` are input: they name graphs of the graph
folders (`processing.graph_dirs`, then the library). A path, a URL or an inline `data:` graph
is accepted only when `graphs.allowed_sources` lists a folder holding it or a prefix of it.
A graph's steps run code of the operator's only: programs, scripts and SNAP graphs are files
of the graph's own folder or of the graph folders; programs on PATH and python modules must
be listed (`graphs.allowed_programs`, `graphs.python_modules`); `gpt` is `processing.snap_gpt`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Literal
from urllib.parse import unquote, urlsplit

from geocube_ingest.errors import FatalError, InvalidInput
from geocube_ingest.settings import Settings

RefKind = Literal["name", "path", "url", "data"]
DATA_PREFIX = "data:"


class GraphSourceRefused(InvalidInput):
    """A graph given by path, URL or `data:` that the operator did not allow."""


class StepRefused(FatalError):
    """A step names a program, script, module or SNAP graph that is not the operator's (or not there)."""


def ref_kind(ref: str) -> RefKind:
    """`name` for names and clean relative paths (looked up in the graph folders), else what it is."""
    if ref.startswith(DATA_PREFIX):
        return "data"
    scheme, sep, _ = ref.partition("://")
    if sep and scheme.lower() != "file":
        return "url"
    if sep or ref.startswith("~") or "\\" in ref:
        return "path"
    path = PurePosixPath(ref)
    return "path" if path.is_absolute() or ".." in path.parts else "name"


def local_path(ref: str) -> Path:
    """The local file a path reference designates (`file://` and `~` expanded, normalised)."""
    text = ref.removeprefix("file://")
    return Path(os.path.normpath(Path(text).expanduser().absolute()))


def is_inside(path: Path, folder: Path) -> bool:
    """Lexically inside `folder` (`..` already normalised away); symlinks in the operator's folders are theirs."""
    folder = Path(os.path.normpath(folder.expanduser().absolute()))
    return path == folder or path.is_relative_to(folder)


def _url_allowed(url: str, prefix: str) -> bool:
    if not url.startswith(prefix):
        return False
    rest = url[len(prefix) :]
    if not (prefix.endswith("/") or rest == "" or rest[0] in "/?#"):
        return False  # `https://host` must not allow `https://host.evil.example`
    segments = unquote(urlsplit(url).path).split("/")
    return not any(s in ("..", ".") for s in segments)


def source_allowed(ref: str, settings: Settings, graph_folders: Iterable[Path] = ()) -> bool:
    """May input name this path / URL / `data:` graph? (Names are always allowed.)"""
    kind = ref_kind(ref)
    if kind == "name":
        return True
    entries = [e.strip() for e in settings.graphs.allowed_sources if e.strip()]
    if kind == "data":
        return any(e.startswith(DATA_PREFIX) and ref.startswith(e) for e in entries)
    if kind == "url":
        return any("://" in e and _url_allowed(ref, e) for e in entries)
    folders = [Path(e) for e in entries if "://" not in e and not e.startswith(DATA_PREFIX) and os.path.isabs(e)]
    path = local_path(ref)
    return any(is_inside(path, folder) for folder in [*folders, *graph_folders])


def refusal(ref: str) -> GraphSourceRefused:
    kind = ref_kind(ref)
    what = {"data": "an inline data: graph", "url": "a graph URL", "path": "a graph path"}.get(kind, "this graph")
    return GraphSourceRefused(
        f"graph {ref[:120]!r}: {what} is not allowed; name a graph of the library or of the graph folders"
        " (the operator may allow others with graphs.allowed_sources)"
    )


def step_file(command: str, dirs: Sequence[Path]) -> Path | None:
    """A file a step names (script, program, SNAP graph), found in the graph's folder or the graph folders only."""
    if not command or "\\" in command or command.startswith("~"):
        return None
    path = PurePosixPath(command)
    if ".." in path.parts:
        return None
    if path.is_absolute():
        candidate = Path(os.path.normpath(command))
        return candidate if candidate.is_file() and any(is_inside(candidate, d) for d in dirs) else None
    for folder in dirs:
        candidate = folder / path
        if candidate.is_file():
            return candidate
    return None


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def resolve_program(command: str, dirs: Sequence[Path], settings: Settings) -> str:
    """The program a `cmd` step runs: a file of the graph folders, or one of `graphs.allowed_programs`."""
    found = step_file(command, dirs)
    if found is not None:
        return str(found)
    allowed = [p.strip() for p in settings.graphs.allowed_programs if p.strip()]
    if command in allowed:
        if "/" in command:
            if _executable(command):
                return command
            raise StepRefused(f"program {command!r} is not there (graphs.allowed_programs)")
        on_path = shutil.which(command)
        if on_path is None:
            raise StepRefused(f"program {command!r} is allowed but not found on PATH")
        return on_path
    if "/" in command or command.startswith("."):
        raise StepRefused(f"program {command!r} not found in the graph folders")
    raise StepRefused(f"program {command!r} is neither a file of the graph folders nor in graphs.allowed_programs")


def require_step_file(command: str, dirs: Sequence[Path], what: str) -> Path:
    found = step_file(command, dirs)
    if found is None:
        raise StepRefused(f"{what} {command!r} not found in the graph folders")
    return found


def module_allowed(module: str, settings: Settings) -> bool:
    return any(
        module == m.strip() or module.startswith(m.strip() + ".") for m in settings.graphs.python_modules if m.strip()
    )


def require_module(module: str, settings: Settings) -> None:
    if not module_allowed(module, settings):
        raise StepRefused(f"python module {module!r} is not in graphs.python_modules")


def resolve_executable(program: str) -> str | None:
    """An operator-configured program (`processing.snap_gpt`, `docker.command`): a path or a name on PATH."""
    if "/" in program:
        return program if _executable(program) else None
    return shutil.which(program)
