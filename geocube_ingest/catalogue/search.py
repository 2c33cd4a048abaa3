"""Step 1: the scenes of a payload, from the first configured provider that answers.

Every provider is asked in the configured order; the first answer (even an empty one) wins.
When none answers, one error lists what each provider said: an InvalidInput when every
provider found the query impossible, a TemporaryError when at least one was unreachable
(try later), a FatalError otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from geocube_ingest.catalogue.filters import UnsupportedQuery
from geocube_ingest.catalogue.models import CatalogueScene, Progress, SceneSearch
from geocube_ingest.catalogue.providers import SceneQuery, SearchProvider, configured_providers
from geocube_ingest.catalogue.refine import refine_why
from geocube_ingest.errors import FatalError, GeocubeIngestError, InvalidInput, TemporaryError
from geocube_ingest.payload import Payload
from geocube_ingest.settings import Settings, get_settings

log = logging.getLogger(__name__)


class _ProviderErrors:
    """Mixin: the (provider, error) pairs of every provider tried, in one line."""

    errors: list[tuple[str, BaseException]]

    @staticmethod
    def line(errors: Sequence[tuple[str, BaseException]]) -> str:
        return "no catalogue provider answered: " + "; ".join(f"{name}: {_describe(name, e)}" for name, e in errors)


def _describe(name: str, error: BaseException) -> str:
    text = str(error).removeprefix(f"{name}: ")
    return text if isinstance(error, GeocubeIngestError) else f"{type(error).__name__}: {text}"


class SearchUnsupported(_ProviderErrors, InvalidInput):
    """Every provider found the query impossible (a filter, constellation or product type they lack)."""

    def __init__(self, errors: Sequence[tuple[str, BaseException]]):
        self.errors = list(errors)
        super().__init__(self.line(errors))


class CatalogueUnavailable(_ProviderErrors, TemporaryError):
    """At least one provider could not be reached: the search may succeed later."""

    http_status = 503

    def __init__(self, errors: Sequence[tuple[str, BaseException]]):
        self.errors = list(errors)
        super().__init__(self.line(errors))


class SearchFailed(_ProviderErrors, FatalError):
    """Providers answered, but with errors (rejected requests, unreadable answers)."""

    http_status = 502

    def __init__(self, errors: Sequence[tuple[str, BaseException]]):
        self.errors = list(errors)
        super().__init__(self.line(errors))


def combined_error(errors: Sequence[tuple[str, BaseException]]) -> GeocubeIngestError:
    if all(isinstance(e, InvalidInput) for _, e in errors):
        return SearchUnsupported(errors)
    if any(isinstance(e, TemporaryError) for _, e in errors):
        return CatalogueUnavailable(errors)
    return SearchFailed(errors)


def finish_scene(scene: CatalogueScene, payload: Payload) -> CatalogueScene:
    """What the payload adds to every scene: AOI, scene graph, retry policy, storage, record tags."""
    scene.aoi = payload.name
    scene.graph_name = payload.scene_graph_name
    scene.graph_config = dict(payload.graph_config)
    scene.is_retriable = payload.is_retriable
    scene.storage_uri = payload.storage_uri or ""
    scene.tags = {**payload.record_tags, **scene.tags}  # catalogue tags win on conflict
    return scene


def serving(providers: Sequence[SearchProvider], query: SceneQuery) -> list[SearchProvider]:
    """The providers holding the query's constellation (no Landsat API is asked for Sentinel-2)."""
    found = [p for p in providers if p.serves(query.constellation)]
    if not found:
        wanted = query.constellation.value
        raise SearchUnsupported([(p.name, UnsupportedQuery(f"no {wanted} collection")) for p in providers])
    return found


def search_provider(provider: SearchProvider, payload: Payload, query: SceneQuery) -> SceneSearch:
    """One page of one provider, refined; what it left out is in `dropped`, with why."""
    page = provider.search(query)
    dropped = list(page.dropped)
    matching = []
    for scene in page.scenes:
        why = query.filters.mismatch(scene)
        if why is None:
            matching.append(scene)
        else:
            dropped.append((scene.source_id, why))
    refined, left_out = refine_why(matching, query.aoi)
    scenes = [finish_scene(s, payload) for s in refined]
    return SceneSearch(scenes, page.next, provider.name, page.warnings, dropped + left_out)


def search_with(
    providers: Sequence[SearchProvider], payload: Payload, query: SceneQuery, progress: Progress | None = None
) -> SceneSearch:
    errors: list[tuple[str, BaseException]] = []
    providers = serving(providers, query)
    for number, provider in enumerate(providers):
        if progress:
            progress(number, len(providers), f"searching {provider.name}")
        try:
            found = search_provider(provider, payload, query)
        except Exception as exc:  # any failure of one provider is reported, and the next one is asked
            log.info("catalogue provider %s failed: %s", provider.name, exc)
            errors.append((provider.name, exc))
            continue
        if progress:
            progress(len(providers), len(providers), f"{len(found.scenes)} scenes from {provider.name}")
        return found
    raise combined_error(errors)


def providers_for(payload: Payload, settings: Settings) -> list[SearchProvider]:
    """The configured providers serving the payload's constellation, in the order they are asked."""
    return serving(configured_providers(settings), SceneQuery.from_payload(payload))


def search_scenes(
    payload: Payload,
    *,
    settings: Settings | None = None,
    page: int | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
) -> SceneSearch:
    """The scenes of the payload (one page of `limit` when given; `page`/`limit` override the payload's)."""
    settings = settings or get_settings()
    query = SceneQuery.from_payload(payload, page, limit)
    return search_with(configured_providers(settings), payload, query, progress)
