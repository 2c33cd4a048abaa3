"""The `python` engine: a callable by import path, or a script.

- `package.module:function` (or `package.module.function`) is imported and called with the
  step's args as keyword arguments (`file-in` → `file_in`); a parameter named `context`
  receives the StepContext. Its exceptions are classified like any step's. The module must
  be listed in `graphs.python_modules`: nothing is imported before that is checked.
- `path/to/script.py` runs in a subprocess with this interpreter, args as `--name=value`,
  looked up next to the graph, then in the graph folders (upstream's `python/convert.py`
  layout), never elsewhere.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from geocube_ingest.errors import InvalidInput
from geocube_ingest.processing import policy
from geocube_ingest.processing.engines.cmd import long_args, run_program, search_dirs, step_envs
from geocube_ingest.settings import Settings, get_settings

if TYPE_CHECKING:
    from geocube_ingest.processing.graph import Step
    from geocube_ingest.processing.runner import StepContext


def is_script(command: str) -> bool:
    return command.endswith(".py") or "/" in command


def split_import_path(path: str) -> tuple[str, str]:
    module_name, sep, attribute = path.partition(":")
    if not sep:
        module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise InvalidInput(f"{path!r} is not an import path (expected 'package.module:function')")
    return module_name, attribute


def import_callable(path: str, settings: Settings) -> Callable[..., Any]:
    module_name, attribute = split_import_path(path)
    policy.require_module(module_name, settings)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInput(f"cannot import {module_name!r}: {exc}") from None
    target: Any = module
    for part in attribute.split("."):
        if part.startswith("_") or not hasattr(target, part):
            raise InvalidInput(f"{module_name!r} has no {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise InvalidInput(f"{path!r} is not callable")
    # A name an allowed module merely imported (`allowed:os.system`) is another module's code.
    policy.require_module(str(getattr(target, "__module__", "") or ""), settings)
    return cast(Callable[..., Any], target)


class PythonEngine:
    name = "python"

    def run(self, step: Step, args: dict[str, str], context: StepContext) -> None:
        if is_script(step.command):
            script = policy.require_step_file(step.command, search_dirs(context), "python script")
            argv = [sys.executable, str(script), *long_args(args)]
            run_program(argv, context, script.name, step_envs(context, step))
            return
        function = import_callable(step.command, context.settings)
        kwargs: dict[str, Any] = {name.replace("-", "_"): value for name, value in args.items()}
        if "context" in inspect.signature(function).parameters:
            kwargs["context"] = context
        function(**kwargs)

    def check(self, step: Step, base_dirs: list[str], settings: Settings | None = None) -> list[tuple[str, str]]:
        try:
            if is_script(step.command):
                policy.require_step_file(step.command, [Path(d) for d in base_dirs], "python script")
            else:
                import_callable(step.command, settings or get_settings())
        except (InvalidInput, policy.StepRefused) as exc:
            return [("command", str(exc))]
        return []
