"""The `python` engine: a callable by import path, or a script.

- `package.module:function` (or `package.module.function`) is imported and called with the
  step's args as keyword arguments (`file-in` → `file_in`); a parameter named `context`
  receives the StepContext. Its exceptions are classified like any step's.
- `path/to/script.py` runs in a subprocess with this interpreter, args as `--name=value`,
  looked up next to the graph first (upstream's `python/convert.py` layout).
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from geocube_ingest.errors import FatalError, InvalidInput
from geocube_ingest.processing.engines.cmd import find_file, long_args, run_program, search_dirs

if TYPE_CHECKING:
    from geocube_ingest.processing.graph import Step
    from geocube_ingest.processing.runner import StepContext


def is_script(command: str) -> bool:
    return command.endswith(".py") or "/" in command


def import_callable(path: str) -> Callable[..., Any]:
    module_name, sep, attribute = path.partition(":")
    if not sep:
        module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise InvalidInput(f"{path!r} is not an import path (expected 'package.module:function')")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInput(f"cannot import {module_name!r}: {exc}") from None
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise InvalidInput(f"{module_name!r} has no {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise InvalidInput(f"{path!r} is not callable")
    return cast(Callable[..., Any], target)


class PythonEngine:
    name = "python"

    def run(self, step: Step, args: dict[str, str], context: StepContext) -> None:
        if is_script(step.command):
            script = find_file(step.command, search_dirs(context))
            if script is None:
                raise FatalError(f"python script {step.command!r} not found")
            run_program([sys.executable, str(script), *long_args(args)], context, script.name)
            return
        function = import_callable(step.command)
        kwargs: dict[str, Any] = {name.replace("-", "_"): value for name, value in args.items()}
        if "context" in inspect.signature(function).parameters:
            kwargs["context"] = context
        function(**kwargs)

    def check(self, step: Step, base_dirs: list[str]) -> list[tuple[str, str]]:
        if is_script(step.command):
            if find_file(step.command, [Path(d) for d in base_dirs]) is None:
                return [("command", f"python script {step.command!r} not found in the graph folders")]
            return []
        try:
            import_callable(step.command)
        except InvalidInput as exc:
            return [("command", str(exc))]
        return []
