"""Shared fixtures: an isolated home, and the workflow database on SQLite and real PostgreSQL.

PostgreSQL is required (127.0.0.1:5432, or GEOCUBE_INGEST_TEST_PG): tests that need it
fail, never skip, when it is not there. Each test session gets its own database, dropped
at the end, so several sessions can run side by side.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from geocube_ingest.database import dispose_engines, normalize_url
from geocube_ingest.settings import get_settings

PG_ADMIN_URL = normalize_url(os.environ.get("GEOCUBE_INGEST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"))
FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
KEEP_ENV = {"GEOCUBE_INGEST_TEST_PG"}


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Nothing a test does touches the developer's home or settings.

    The tests' operator lets input read and write below the session's temporary folder (and
    read the recorded fixtures), where the tests put products, catalogues and storage;
    tests of the trust boundary give their own `security` settings.
    """
    for key in list(os.environ):
        if key.startswith("GEOCUBE_INGEST_") and key not in KEEP_ENV:
            monkeypatch.delenv(key)
    home = tmp_path / "geocube-home"
    monkeypatch.setenv("GEOCUBE_INGEST_HOME", str(home))
    scratch = str(tmp_path_factory.getbasetemp())
    monkeypatch.setenv("GEOCUBE_INGEST_SECURITY__FILE_ROOTS", json.dumps([scratch, str(FIXTURES)]))
    monkeypatch.setenv("GEOCUBE_INGEST_SECURITY__STORAGE_ROOTS", json.dumps([scratch]))
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.fail(f"the recorded fixtures are missing: expected {FIXTURES}")
    return FIXTURES


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session."""
    name = f"gci_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        pytest.fail(f"PostgreSQL is required for the tests ({PG_ADMIN_URL}): {exc.orig}")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    dispose_engines()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(url: str) -> None:
    engine = create_engine(url)
    try:
        tables = [t for t in inspect(engine).get_table_names() if not t.startswith("alembic_version")]
        if tables:
            with engine.begin() as connection:
                names = ", ".join(f'"{t}"' for t in tables)
                connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The workflow database, once per backend: a new SQLite file, or the session's PostgreSQL emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'workflow.db'}"
    url: str = request.getfixturevalue("pg_url")
    _truncate_all(url)
    return url


@pytest.fixture
def workflow(database_url: str):  # type: ignore[no-untyped-def]
    from geocube_ingest.workflow import Workflow

    return Workflow(database_url)


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """A Prefect API server for the whole session (Prefect's own test harness: a real server in a
    subprocess, about 20 s to start, so once). Yields its URL, also set as PREFECT_API_URL for
    subprocesses and threads that read the environment."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # offline: no telemetry errors
        with prefect_test_harness(server_startup_timeout=180):
            url = str(PREFECT_API_URL.value())
            patch.setenv("PREFECT_API_URL", url)
            yield url
