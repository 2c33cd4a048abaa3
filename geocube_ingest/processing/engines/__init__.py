"""Step engines: `xarray` (built-in steps on Dask), `python` (a callable or a script), `cmd`
(a program), `snap` (SNAP's gpt, as upstream), `docker` (an image, through the docker CLI).
One class per engine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from geocube_ingest.errors import FatalError

if TYPE_CHECKING:
    from geocube_ingest.processing.graph import Step
    from geocube_ingest.processing.runner import StepContext
    from geocube_ingest.settings import Settings


class Engine(Protocol):
    name: str

    def run(self, step: Step, args: dict[str, str], context: StepContext) -> None:
        """Run one step; raise on failure (TaskError subclasses say how to classify it)."""
        ...

    def check(self, step: Step, base_dirs: list[str], settings: Settings | None = None) -> list[tuple[str, str]]:
        """Problems `(where, what)` a graph check can find without running the step.

        `base_dirs` are the operator's folders the step's files may come from; `settings`
        (default: the process's) say which programs, modules and engines are available.
        """
        ...


ENGINE_NAMES = ("xarray", "python", "cmd", "snap", "docker")


def get_engine(name: str) -> Engine:
    if name == "xarray":
        from geocube_ingest.processing.engines.xarray import XarrayEngine

        return XarrayEngine()
    if name == "python":
        from geocube_ingest.processing.engines.python import PythonEngine

        return PythonEngine()
    if name == "cmd":
        from geocube_ingest.processing.engines.cmd import CmdEngine

        return CmdEngine()
    if name == "snap":
        from geocube_ingest.processing.engines.snap import SnapEngine

        return SnapEngine()
    if name == "docker":
        from geocube_ingest.processing.engines.docker import DockerEngine

        return DockerEngine()
    raise FatalError(f"unknown engine {name!r} (expected one of {', '.join(ENGINE_NAMES)})")
