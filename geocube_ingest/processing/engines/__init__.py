"""Step engines: `xarray` (built-in steps on Dask), `python` (a callable or a script), `cmd`
(any program), `snap` (SNAP's gpt, as upstream). One class per engine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from geocube_ingest.errors import FatalError

if TYPE_CHECKING:
    from geocube_ingest.processing.graph import Step
    from geocube_ingest.processing.runner import StepContext


class Engine(Protocol):
    name: str

    def run(self, step: Step, args: dict[str, str], context: StepContext) -> None:
        """Run one step; raise on failure (TaskError subclasses say how to classify it)."""
        ...

    def check(self, step: Step, base_dirs: list[str]) -> list[tuple[str, str]]:
        """Problems `(where, what)` a graph check can find without running the step."""
        ...


ENGINE_NAMES = ("xarray", "python", "cmd", "snap")


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
        from geocube_ingest.processing.engines.cmd import SnapEngine

        return SnapEngine()
    raise FatalError(f"unknown engine {name!r} (expected one of {', '.join(ENGINE_NAMES)})")
