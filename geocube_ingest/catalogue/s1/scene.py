"""The bursts of one catalogue scene: find its annotations, parse them, compute footprints and burst ids.

Sources are tried in order until one gives annotations:
1. the payload's `annotations_urls` patterns, with `{SCENE}`, `{YEAR}`, `{MONTH}`, `{DAY}`,
   `{MISSION_ID}`, `{ORBIT}`... (upstream's keys, see naming.placeholders) and `{AREA}`;
2. the per-swath annotation files the catalogue listed (`metadata.annotations`, e.g. CDSE STAC assets);
3. the product itself when its link is a `.SAFE` folder or a `.zip` (`metadata.download_link`,
   `metadata.product_url`).
"""

from __future__ import annotations

from collections.abc import Sequence

from geocube_ingest.catalogue.models import CatalogueScene
from geocube_ingest.catalogue.naming import format_pattern, placeholders
from geocube_ingest.catalogue.s1.annotation import parse_annotation
from geocube_ingest.catalogue.s1.bursts import Burst, product_bursts
from geocube_ingest.catalogue.s1.manifest import parse_manifest
from geocube_ingest.catalogue.s1.sources import AnnotationFiles, read_files, read_source
from geocube_ingest.errors import GeocubeIngestError, InvalidInput, NotFound, TemporaryError
from geocube_ingest.settings import Settings


def annotation_urls(scene: CatalogueScene, patterns: Sequence[str], area: str) -> list[str]:
    values = {**placeholders(scene.source_id), "AREA": area}
    urls = []
    for pattern in patterns:
        try:
            urls.append(format_pattern(pattern, values))
        except KeyError as exc:
            raise InvalidInput(
                f"annotations_urls {pattern!r}: no value for {{{exc.args[0]}}} in scene {scene.source_id}"
            ) from None
    return urls


def _product_links(scene: CatalogueScene) -> list[str]:
    links = [scene.metadata.get("product_url"), scene.metadata.get("download_link")]
    return [
        str(link)
        for link in links
        if link and str(link).split("?", 1)[0].rstrip("/").lower().endswith((".safe", ".zip"))
    ]


def find_annotations(scene: CatalogueScene, patterns: Sequence[str], area: str, settings: Settings) -> AnnotationFiles:
    """The first source holding annotations; InvalidInput lists what was tried when none does."""
    tried: list[str] = []
    temporary = False
    candidates: list[tuple[str, list[str]]] = [(url, [url]) for url in annotation_urls(scene, patterns, area)]
    listed = [str(u) for u in scene.metadata.get("annotations") or []]
    if listed:
        candidates.append((listed[0], listed))
    candidates.extend((url, [url]) for url in _product_links(scene))
    for label, urls in candidates:
        try:
            found = read_files(urls, settings=settings) if len(urls) > 1 else read_source(urls[0], settings=settings)
        except (NotFound, InvalidInput) as exc:
            tried.append(str(exc))
            continue
        except TemporaryError as exc:
            temporary = True
            tried.append(str(exc))
            continue
        if found.annotations:
            return found
        tried.append(f"{label}: no annotation file")
    if not tried:
        raise InvalidInput(
            f"scene {scene.source_id}: no source of annotation files to split it into bursts "
            "(give annotations_urls in the payload, e.g. 's3://bucket/{SCENE}.zip')"
        )
    error = TemporaryError if temporary else InvalidInput
    raise error(f"scene {scene.source_id}: no annotation files found ({'; '.join(tried)})")


def scene_bursts(scene: CatalogueScene, patterns: Sequence[str], area: str, settings: Settings) -> list[Burst]:
    found = find_annotations(scene, patterns, area, settings)
    try:
        annotations = [(where, parse_annotation(data, where)) for where, data in found.annotations]
        manifest = parse_manifest(found.manifest, found.source) if found.manifest else None
        hint = scene.tags.get("relativeOrbit")
        return product_bursts(
            annotations, manifest, int(hint) if hint and hint.isdigit() else None, product=scene.source_id
        )
    except GeocubeIngestError as exc:
        raise InvalidInput(f"scene {scene.source_id}: {exc}") from None
    except (ValueError, ArithmeticError, IndexError) as exc:  # values of the files that no product has
        raise InvalidInput(f"scene {scene.source_id}: its annotations cannot be split into bursts ({exc})") from None
