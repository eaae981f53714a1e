"""Is there a product database at this URL? Answered without creating anything.

Opening an engine on a missing SQLite file creates the file (and its folder), and a
migration would then fill it: a command that only reads must look first, read-only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from jejakekal.domain.errors import DatabaseUnavailable
from jejakekal.storage.engine import is_sqlite, normalise_url, sqlite_path

if TYPE_CHECKING:
    import psycopg

# The table every product database has from its first migration on.
_MARKER_TABLE = "runs"
_CONNECT_TIMEOUT_SEC = 5
_FIRST_RUN = "start the product once (`jejakekal serve`) or run `jejakekal db reset`"


def require_database(url: str) -> None:
    """Raise `DatabaseUnavailable` unless `url` holds the product's tables."""
    if is_sqlite(url):
        _require_sqlite(url)
        return
    with _pg_connection(url) as conn:
        found = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL", (f"app.{_MARKER_TABLE}",)
        ).fetchone()
    if not (found and found[0]):
        raise DatabaseUnavailable(f"no jejakekal tables in {shown(url)}; {_FIRST_RUN}")


def require_reachable(url: str) -> None:
    """Raise `DatabaseUnavailable` when a PostgreSQL server at `url` cannot be reached.

    For the commands that create what they need: a SQLite file is created on first use.
    """
    if not is_sqlite(url):
        with _pg_connection(url):
            pass


def shown(url: str) -> str:
    """The URL as an operator may see it: without its password."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "an unparsable URL"


def _require_sqlite(url: str) -> None:
    path = sqlite_path(url).resolve()
    if not path.is_file():
        raise DatabaseUnavailable(f"no database at {path}; {_FIRST_RUN}")
    # mode=ro: a wrong path must not become an empty database.
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (_MARKER_TABLE,)
        ).fetchone()
    except sqlite3.DatabaseError as exc:  # e.g. "file is not a database"
        raise DatabaseUnavailable(f"cannot read {path} as a database: {exc}") from None
    finally:
        conn.close()
    if found is None:
        raise DatabaseUnavailable(f"no jejakekal tables in {path}; {_FIRST_RUN}")


@contextmanager
def _pg_connection(url: str) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    import psycopg

    plain = sa.make_url(normalise_url(url)).set(drivername="postgresql")
    dsn = plain.render_as_string(hide_password=False)
    try:
        conn = psycopg.connect(dsn, connect_timeout=_CONNECT_TIMEOUT_SEC, autocommit=True)
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DatabaseUnavailable(f"cannot reach {shown(url)}: {first}") from None
    with conn:
        yield conn
