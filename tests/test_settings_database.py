"""Settings sources and secrets; database URLs, SQLite pragmas and migrations."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from geocube_ingest.database import dispose_engines, get_engine, migrate, normalize_url
from geocube_ingest.errors import InvalidInput
from geocube_ingest.settings import Settings, get_settings


def test_defaults_live_in_the_home(isolated_home: Path) -> None:
    s = get_settings()
    assert s.home == isolated_home
    assert s.resolved_database_url == f"sqlite:///{isolated_home / 'geocube-ingest.db'}"
    assert s.resolved_storage_uri == str(isolated_home / "storage")
    assert s.resolved_index_database_url == s.resolved_database_url


def test_environment_and_nested_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOCUBE_INGEST_STORAGE_URI", "s3://bucket/prefix")
    monkeypatch.setenv("GEOCUBE_INGEST_WORKFLOW__LEASE_SECONDS", "30")
    monkeypatch.setenv("GEOCUBE_INGEST_CATALOGUE__PROVIDERS", '[{"preset": "earth-search"}]')
    get_settings.cache_clear()
    s = get_settings()
    assert s.storage_uri == "s3://bucket/prefix" and s.workflow.lease_seconds == 30
    assert s.catalogue.providers[0].preset == "earth-search"


def test_toml_file_and_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text('storage_uri = "gs://from-file"\n[pipeline]\ntile_batch = 7\n[api]\nport = 9000\n')
    monkeypatch.setenv("GEOCUBE_INGEST_CONFIG", str(config))
    monkeypatch.setenv("GEOCUBE_INGEST_API__PORT", "9100")
    get_settings.cache_clear()
    s = get_settings()
    assert s.storage_uri == "gs://from-file" and s.pipeline.tile_batch == 7
    assert s.api.port == 9100  # the environment wins over the file
    assert s.with_overrides({"pipeline": {"tile_batch": 3}}).pipeline.tile_batch == 3


def test_secrets_never_show(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOCUBE_INGEST_API__TOKEN", "s3cr3t-token")
    monkeypatch.setenv("GEOCUBE_INGEST_S3__SECRET_ACCESS_KEY", "s3cr3t-key")
    get_settings.cache_clear()
    s = get_settings()
    assert s.api.token is not None and s.api.token.get_secret_value() == "s3cr3t-token"
    for text_ in (repr(s), str(s), s.model_dump_json()):
        assert "s3cr3t" not in text_


def test_invalid_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOCUBE_INGEST_WORKFLOW__LEASE_SECONDS", "-1")
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="lease_seconds"):
        Settings()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


def test_bare_path_and_unsupported_databases(tmp_path: Path) -> None:
    assert normalize_url(str(tmp_path / "w.db")) == f"sqlite:///{tmp_path / 'w.db'}"
    with pytest.raises(InvalidInput, match="unsupported database 'mysql'"):
        normalize_url("mysql://root@localhost/db")


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: Path) -> None:
    engine = get_engine(f"sqlite:///{tmp_path / 'deep' / 'folder' / 'w.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_migrations_are_idempotent_and_race_free(pg_url: str) -> None:
    """Several processes starting on a fresh database: the tables are created once."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    name = make_url(pg_url).database + "_race"
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    try:
        errors: list[BaseException] = []

        def start() -> None:
            try:
                from sqlalchemy import create_engine as make

                migrate(make(normalize_url(url)), "workflow")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=start) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert {"aoi", "scene", "tile", "event"} <= set(inspect(get_engine(url)).get_table_names())
    finally:
        dispose_engines()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
