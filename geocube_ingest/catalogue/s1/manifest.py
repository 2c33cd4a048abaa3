"""The orbit numbers of a Sentinel-1 `manifest.safe`: what burst ids need beyond the annotation."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from geocube_ingest.errors import InvalidInput

_SAFE = "{http://www.esa.int/safe/sentinel-1.0}"
_S1 = "{http://www.esa.int/safe/sentinel-1.0/sentinel-1}"


@dataclass(frozen=True, slots=True)
class ManifestOrbits:
    absolute_start: int
    absolute_stop: int
    relative_start: int
    relative_stop: int
    pass_direction: str  # ASCENDING / DESCENDING ("" when absent)


def _orbit(root: ET.Element, tag: str, kind: str, source: str) -> int:
    for node in root.iter(f"{_SAFE}{tag}"):
        if node.get("type") == kind and node.text:
            text = node.text.strip()
            if not text.isdigit() or len(text) > 9:
                raise InvalidInput(f"manifest {source}: {tag} of type {kind!r} is not an orbit number")
            return int(text)
    raise InvalidInput(f"manifest {source}: no {tag} of type {kind!r}")


def parse_manifest(data: bytes, source: str = "") -> ManifestOrbits:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise InvalidInput(f"manifest {source}: not valid XML ({exc})") from None
    pass_node = next(root.iter(f"{_S1}pass"), None)
    return ManifestOrbits(
        absolute_start=_orbit(root, "orbitNumber", "start", source),
        absolute_stop=_orbit(root, "orbitNumber", "stop", source),
        relative_start=_orbit(root, "relativeOrbitNumber", "start", source),
        relative_stop=_orbit(root, "relativeOrbitNumber", "stop", source),
        pass_direction=(pass_node.text or "").strip().upper() if pass_node is not None else "",
    )
