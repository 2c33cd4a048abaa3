"""Does a tile graph read its previous or reference tile? Decides whether tiles are chained.

Chaining serialises processing along each time series, so it is only done when the tile
graph needs it. The graph JSON (upstream's shape, SPEC section 7) is read minimally: a graph
uses slots 1/2 when `in_files[1]` or `in_files[2]` is not empty, when an argument of type
`in` has `tile_index` 1 or 2, or when a condition compares with T1/T2. Graphs are found as
processing finds them (`processing.graph.resolve_graph`: the graph folders, and only the
paths and URLs the operator allows). `Pass` and `CopyProductToStorage` use neither. A graph
that cannot be found (or is refused) is assumed to use them: chaining is never wrong, only
slower, while processing without the previous tile would be.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from geocube_ingest.errors import InvalidInput, NotFound
from geocube_ingest.payload import Payload
from geocube_ingest.settings import Settings

log = logging.getLogger(__name__)

INDEPENDENT_GRAPHS = frozenset({"Pass", "CopyProductToStorage"})
_SLOT_CONDITION = re.compile(r"T[12]")
# Payload override: graph_config {"link_tiles": "true" | "false"}.
LINK_OVERRIDE_KEY = "link_tiles"


def find_graph(name: str, settings: Settings) -> str | None:
    """Where the graph is, as processing resolves it; None when unknown or not allowed."""
    from geocube_ingest.processing.graph import resolve_graph  # processing loads only when tiles are listed

    try:
        return resolve_graph(name, settings)
    except (NotFound, InvalidInput):
        return None


def _references_slots(value: Any) -> bool:
    if isinstance(value, dict):
        if value.get("type") == "in" and value.get("tile_index") in (1, 2, "1", "2"):
            return True
        condition = value.get("condition")
        if isinstance(condition, str) and _SLOT_CONDITION.search(condition):
            return True
        return any(_references_slots(v) for v in value.values())
    if isinstance(value, list):
        return any(_references_slots(v) for v in value)
    return False


def graph_uses_slots(document: dict[str, Any]) -> bool:
    """True when the graph reads the previous (slot 1) or reference (slot 2) tile."""
    in_files = document.get("in_files") or []
    if isinstance(in_files, list) and any(isinstance(s, list) and s for s in in_files[1:3]):
        return True
    return _references_slots(document.get("processing_steps") or [])


def graph_uses_previous_or_reference(name: str, settings: Settings) -> bool | None:
    """None when the graph cannot be found."""
    if Path(name).stem in INDEPENDENT_GRAPHS:
        return False
    from geocube_ingest.processing.graph import read_source

    source = find_graph(name, settings)
    if source is None:
        return None
    try:
        document = json.loads(read_source(source, settings))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"tile graph {name!r}: cannot be read: {type(exc).__name__}") from None
    if not isinstance(document, dict):
        raise InvalidInput(f"tile graph {name!r}: expected a JSON object")
    return graph_uses_slots(document)


def should_link(payload: Payload, link: bool | None, settings: Settings) -> bool:
    """Explicit `link` first, then the payload's `graph_config.link_tiles`, then the tile graph."""
    if link is not None:
        return link
    override = payload.graph_config.get(LINK_OVERRIDE_KEY)
    if override is not None:
        text = override.strip().lower()
        if text not in ("true", "false", "1", "0", "yes", "no"):
            raise InvalidInput(f"graph_config.{LINK_OVERRIDE_KEY}: {override!r} is not true or false")
        return text in ("true", "1", "yes")
    uses = graph_uses_previous_or_reference(payload.tile_graph_name, settings)
    if uses is None:
        log.warning(
            "tile graph %r not found: tiles are chained in case it reads previous/reference", payload.tile_graph_name
        )
        return True
    return uses
