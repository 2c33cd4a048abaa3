"""JSON documents from input, read within bounds: nesting depth, size of numbers, storable strings.

Python's json module turns a deeply nested document into a RecursionError and an integer of
thousands of digits into a ValueError, and it accepts NaN, Infinity and "\\u0000", which the
databases refuse: each becomes a FieldError naming where, before any model sees the document.
"""

from __future__ import annotations

import json
import math
from typing import Any

from geocube_ingest.errors import FieldError

MAX_DEPTH = 64
MAX_INTEGER = 2**63 - 1  # what a BIGINT and every JSON reader hold


def loads(source: str | bytes | bytearray, what: str) -> Any:
    """Parse and `check` a JSON text; FieldError(what, ...) says what is wrong."""
    try:
        text = source.decode("utf-8") if isinstance(source, bytes | bytearray) else source
    except UnicodeDecodeError:
        raise FieldError(what, [("", "not UTF-8 text")]) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FieldError(what, [("", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")]) from None
    except RecursionError:
        raise FieldError(what, [("", f"nested more than {MAX_DEPTH} levels deep")]) from None
    except ValueError:  # int() refuses more than 4300 digits
        raise FieldError(what, [("", "a number has too many digits")]) from None
    return check(document, what)


def _problem(value: Any) -> str | None:
    if isinstance(value, str):
        return "strings must not contain NUL characters" if "\x00" in value else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return f"integers must lie within ±{MAX_INTEGER}" if abs(value) > MAX_INTEGER else None
    if isinstance(value, float):
        return None if math.isfinite(value) else "numbers must be finite (no NaN or Infinity)"
    return None


def problems(document: Any, *, where: str = "") -> list[tuple[str, str]]:
    """(path, reason) of what no database stores or nests too deep; iterative, so any depth is safe."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[Any, str, int]] = [(document, where, 0)]
    while stack and len(found) < 20:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            found.append((path, f"nested more than {MAX_DEPTH} levels deep"))
            continue
        if isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                reason = _problem(key)
                if reason:
                    found.append((child, f"keys: {reason}"))
                stack.append((item, child, depth + 1))
        elif isinstance(value, list | tuple):
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))
        else:
            reason = _problem(value)
            if reason:
                found.append((path, reason))
    return found


def check(document: Any, what: str, *, where: str = "") -> Any:
    """`document` itself when storable; FieldError(what, ...) naming each bad place otherwise."""
    found = problems(document, where=where)
    if found:
        raise FieldError(what, found)
    return document
