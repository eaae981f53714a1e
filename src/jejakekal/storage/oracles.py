"""Read-only, parameterised SQL for the drills' oracles.

Names resolve as in `jejakekal sql`: `app.<table>` and `dbos.<table>` reach the same
tables on SQLite (two read-only aliases of the one file) and on PostgreSQL (schemas).
Values travel as bound parameters, never inside the statement.
"""

from __future__ import annotations

import functools
import sqlite3
from typing import Any

import sqlalchemy as sa

from jejakekal.storage.engine import is_sqlite, normalise_url, sqlite_path


def read(url: str, query: str, **params: Any) -> list[dict[str, Any]]:
    """Run one read-only statement with `:name` parameters; rows as dicts."""
    with _engine(url).connect() as conn:
        return [dict(row) for row in conn.execute(sa.text(query), params).mappings()]


def like_prefix(value: str) -> str:
    """A LIKE pattern (with `ESCAPE '\\'`) matching strings that start with `value`."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


@functools.cache
def _engine(url: str) -> sa.Engine:
    url = normalise_url(url)
    if is_sqlite(url):
        target = f"file:{sqlite_path(url).resolve()}?mode=ro"

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(target, uri=True, timeout=30, check_same_thread=False)
            conn.execute("ATTACH DATABASE ? AS app", (target,))
            conn.execute("ATTACH DATABASE ? AS dbos", (target,))
            conn.execute("PRAGMA query_only=1")
            return conn

        # A fresh handle per read: no pooled connection lingers on the drill's file.
        return sa.create_engine("sqlite://", creator=connect, poolclass=sa.pool.NullPool)
    return sa.create_engine(url, pool_size=2, pool_pre_ping=True).execution_options(
        postgresql_readonly=True
    )
