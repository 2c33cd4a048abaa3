"""Search providers: one module per kind, registered here by their `kind`."""

from __future__ import annotations

from geocube_ingest.catalogue.providers.base import ProviderPage, SceneQuery, SearchProvider
from geocube_ingest.catalogue.providers.cdse_odata import CdseODataProvider
from geocube_ingest.catalogue.providers.stac import StacProvider
from geocube_ingest.catalogue.providers.stac_static import StaticStacProvider
from geocube_ingest.errors import InvalidInput
from geocube_ingest.settings import CatalogueProviderSettings, Settings

PROVIDER_KINDS: dict[str, type[SearchProvider]] = {
    StacProvider.kind: StacProvider,
    StaticStacProvider.kind: StaticStacProvider,
    CdseODataProvider.kind: CdseODataProvider,
}


def make_provider(config: CatalogueProviderSettings, settings: Settings) -> SearchProvider:
    try:
        cls = PROVIDER_KINDS[config.kind]
    except KeyError:
        raise InvalidInput(
            f"catalogue provider {config.name!r}: unknown kind {config.kind!r} (known: {', '.join(PROVIDER_KINDS)})"
        ) from None
    return cls(config, settings)


def configured_providers(settings: Settings) -> list[SearchProvider]:
    """The providers of the settings, in the order they are tried."""
    if not settings.catalogue.providers:
        raise InvalidInput("no catalogue provider is configured (settings: catalogue.providers)")
    return [make_provider(config, settings) for config in settings.catalogue.providers]


__all__ = [
    "PROVIDER_KINDS",
    "ProviderPage",
    "SceneQuery",
    "SearchProvider",
    "configured_providers",
    "make_provider",
]
