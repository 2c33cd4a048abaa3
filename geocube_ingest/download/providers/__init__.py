"""Download providers: one module per kind, built from the configured list in order.

Adding a provider = one module with a `Provider` subclass + one line in `KINDS`.
Modules are imported when first used, so a provider's dependencies are only needed
when it is configured.
"""

from __future__ import annotations

import importlib

from geocube_ingest.download.providers.base import (
    ProductNotFound,
    ProductRequest,
    Progress,
    Provider,
    ProviderResult,
    ResultKind,
)
from geocube_ingest.errors import InvalidInput
from geocube_ingest.settings import DownloadProviderSettings, Settings

KINDS: dict[str, str] = {
    "local": "geocube_ingest.download.providers.local:LocalProvider",
    "url": "geocube_ingest.download.providers.url:UrlProvider",
    "cdse": "geocube_ingest.download.providers.cdse:CdseProvider",
    "asf": "geocube_ingest.download.providers.asf:AsfProvider",
}


def provider_class(kind: str) -> type[Provider]:
    target = KINDS.get(kind.lower())
    if target is None:
        raise InvalidInput(f"unknown download provider kind {kind!r}: expected one of {', '.join(sorted(KINDS))}")
    module_name, class_name = target.split(":")
    cls: type[Provider] = getattr(importlib.import_module(module_name), class_name)
    return cls


def build_provider(config: DownloadProviderSettings, settings: Settings) -> Provider:
    return provider_class(config.kind)(config, settings)


def build_providers(settings: Settings) -> list[Provider]:
    """The configured providers, in order (names must be unique: they key the concurrency limits)."""
    configs = settings.download.providers
    if not configs:
        raise InvalidInput("no download provider configured (settings download.providers)")
    names = [c.name for c in configs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidInput(f"download provider names must be unique: {', '.join(duplicates)}")
    return [build_provider(config, settings) for config in configs]


__all__ = [
    "KINDS",
    "ProductNotFound",
    "ProductRequest",
    "Progress",
    "Provider",
    "ProviderResult",
    "ResultKind",
    "build_provider",
    "build_providers",
    "provider_class",
]
