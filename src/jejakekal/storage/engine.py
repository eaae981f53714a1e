"""One engine per database URL; each dialect sets its own up (`storage/dialects/`)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from jejakekal.storage import dialects


def normalise_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` and use the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def dbos_url(url: str) -> str:
    """The URL DBOS and `dbos workflow -s` expect: plain scheme, no driver suffix."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def is_sqlite(url: str) -> bool:
    """The one test of a database URL's backend; everything else asks this."""
    return url.startswith("sqlite")


def db_kind(url: str) -> str:
    """`sqlite` or `postgresql`, as benches, drills and bundles name the backend."""
    return "sqlite" if is_sqlite(url) else "postgresql"


def sqlite_path(url: str) -> Path:
    return dialects.sqlite.path_of(url)


def hold_write_lock(conn: sa.Connection) -> None:
    """Take SQLite's write lock now, if this transaction does not hold it yet (on
    PostgreSQL row locks do this job; there this is a no-op)."""
    dialects.of(conn).hold_write_lock(conn)


def create_engine(url: str, *, pool_size: int = 20) -> sa.Engine:
    url = normalise_url(url)
    dialect: dialects.Dialect = dialects.sqlite if is_sqlite(url) else dialects.postgresql
    return dialect.create_engine(url, pool_size=pool_size)
