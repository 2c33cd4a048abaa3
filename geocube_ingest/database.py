"""Database engines and schema migrations, for every component that keeps tables.

One code path for SQLite (the embedded default) and PostgreSQL (scale):
- SQLite runs in WAL mode with foreign keys on, and every transaction starts with
  `BEGIN IMMEDIATE`, so the single writer is taken up front instead of failing with
  "database is locked" half way through a read-then-write transaction; sessions made
  `read_only` start with a plain `BEGIN` instead, so readers never wait for each other
  nor for the writer (WAL gives them a snapshot).
- PostgreSQL goes through psycopg 3; `postgresql://` URLs are upgraded to it.
Each component (workflow, index) has its own Alembic history and version table, so
they can share one database or live in two.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, create_engine, event, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from geocube_ingest.errors import InvalidInput

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 60_000

# Every component's tables: JSON stored as JSONB on PostgreSQL, and constraint names that
# Alembic can find again on both backends.
JSONType = JSON().with_variant(JSONB(), "postgresql")
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Execution option of the engines behind read-only sessions (see `make_sessionmaker`).
READ_ONLY_OPTION = "geocube_ingest_read_only"

_engines: dict[str, Engine] = {}
_migrated: set[tuple[str, str]] = set()
_lock = threading.Lock()


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite keeps naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def normalize_url(url: str) -> str:
    """Accept the URLs people type (`postgresql://`, a bare file path) and name the driver."""
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise InvalidInput(f"invalid database URL: {exc}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername not in ("postgresql+psycopg", "sqlite", "sqlite+pysqlite"):
        raise InvalidInput(f"unsupported database {parsed.drivername!r}: use sqlite:///PATH or postgresql://...")
    return parsed.render_as_string(hide_password=False)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so BEGIN IMMEDIATE below is honoured.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def get_engine(url: str) -> Engine:
    """One engine (and connection pool) per URL and process."""
    url = normalize_url(url)
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _create(url)
            _engines[url] = engine
        return engine


def _create(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def dispose_engines() -> None:
    """Close every pool: after a fork, and in tests that drop databases."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _migrated.clear()


def make_sessionmaker(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions on `engine`; `read_only` ones must not write (on SQLite they do not take the writer lock)."""
    bind = engine.execution_options(**{READ_ONLY_OPTION: True}) if read_only else engine
    return sessionmaker(bind, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed as one unit, or not at all."""
    with factory() as session, session.begin():
        yield session


def migrate(engine: Engine, component: str) -> None:
    """Bring `component`'s tables to the newest revision (idempotent, safe to race)."""
    key = (engine.url.render_as_string(hide_password=False), component)
    if key in _migrated:
        return
    from alembic import command
    from alembic.config import Config

    script_location = MIGRATIONS_DIR / component
    if not script_location.is_dir():
        raise ValueError(f"no migrations for component {component!r}")
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("version_table", f"alembic_version_{component}")
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Two processes starting on a fresh database must not both create tables.
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"geocube-ingest:{component}"})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    _migrated.add(key)
