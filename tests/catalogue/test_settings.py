"""Catalogue settings: presets, the default provider order, credentials kept secret, configuration errors."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from geocube_ingest.catalogue.providers import configured_providers, make_provider
from geocube_ingest.catalogue.providers.cdse_odata import CdseODataProvider
from geocube_ingest.catalogue.providers.stac import StacProvider
from geocube_ingest.errors import InvalidInput
from geocube_ingest.retry import RetryPolicy
from geocube_ingest.settings import (
    DEFAULT_CATALOGUE_ORDER,
    CatalogueProviderSettings,
    CatalogueSettings,
    Settings,
    get_settings,
)


def test_default_order_uses_the_presets() -> None:
    providers = configured_providers(Settings())
    assert [p.name for p in providers] == list(DEFAULT_CATALOGUE_ORDER)
    assert isinstance(providers[0], CdseODataProvider)
    assert providers[0].config.url == "https://catalogue.dataspace.copernicus.eu/odata/v1"
    assert providers[0].download_base() == "https://download.dataspace.copernicus.eu/odata/v1"  # type: ignore[attr-defined]
    assert (
        isinstance(providers[1], StacProvider)
        and providers[1].config.url == "https://earth-search.aws.element84.com/v1"
    )


def test_providers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    config = [
        {"preset": "planetary-computer", "name": "pc", "token_env": "PC_KEY"},
        {"kind": "stac", "url": "https://stac.example/api", "token": "s3cr3t"},
    ]
    monkeypatch.setenv("GEOCUBE_INGEST_CATALOGUE__PROVIDERS", json.dumps(config))
    monkeypatch.setenv("PC_KEY", "from-env")
    get_settings.cache_clear()
    settings = get_settings()
    pc, custom = configured_providers(settings)
    assert (pc.name, pc.config.kind, pc.config.url) == (
        "pc",
        "stac",
        "https://planetarycomputer.microsoft.com/api/stac/v1",
    )
    assert pc.headers() == {"Authorization": "Bearer from-env"}
    assert custom.name == "stac" and custom.headers() == {"Authorization": "Bearer s3cr3t"}
    assert "s3cr3t" not in repr(settings) and "s3cr3t" not in repr(custom) and "s3cr3t" not in str(custom.config)


def test_basic_auth() -> None:
    config = CatalogueProviderSettings(kind="cdse-odata", url="http://x", username="me", password="pw")  # type: ignore[arg-type]
    assert make_provider(config, Settings()).headers() == {"Authorization": "Basic bWU6cHc="}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"preset": "sentinel-hub"}, "unknown preset 'sentinel-hub'"),
        ({"url": "http://x"}, "give a preset or a kind"),
        ({"kind": "stac"}, "needs a url"),
    ],
)
def test_bad_provider_settings(config: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CatalogueProviderSettings(**config)


def test_names_are_unique_and_kinds_known() -> None:
    with pytest.raises(ValidationError, match="must be unique: earth-search"):
        CatalogueSettings(providers=[{"preset": "earth-search"}, {"preset": "earth-search"}])  # type: ignore[list-item]
    odd = Settings(catalogue=CatalogueSettings(providers=[CatalogueProviderSettings(kind="wfs", url="http://x")]))
    with pytest.raises(InvalidInput, match="unknown kind 'wfs' \\(known: stac, stac-static, cdse-odata\\)"):
        configured_providers(odd)
    with pytest.raises(InvalidInput, match="no catalogue provider is configured"):
        configured_providers(Settings(catalogue=CatalogueSettings(providers=[])))


def test_retry_policy_comes_from_the_catalogue_settings() -> None:
    settings = Settings(catalogue=CatalogueSettings(max_retries=2, backoff_seconds=1, backoff_max_seconds=5))
    policy = RetryPolicy.for_catalogue(settings)
    assert (policy.max_retries, policy.backoff, policy.backoff_max) == (2, 1, 5)
    assert [policy.delay(n) for n in range(1, 5)] == [1, 2, 4, 5]
