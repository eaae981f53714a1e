"""One engine per database, set up per dialect. The only place dialects differ.

SQLite: one file holds both DBOS's tables (unqualified, in `main`) and ours (schema
`app` mapped to `main`). WAL lets readers run beside the single writer, and pysqlite's
IMMEDIATE mode takes the write lock at the first write, so two writers queue on the
busy timeout instead of deadlocking on a lock upgrade; a transaction that must read
under the lock takes it first (`hold_write_lock`).
PostgreSQL: schemas `app` (ours) and `dbos` (DBOS's) in one database.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from jejakekal.storage.schema import APP_SCHEMA


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
    return url.startswith("sqlite")


def sqlite_path(url: str) -> Path:
    return Path(sa.make_url(url).database or "")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = "IMMEDIATE"
    # A generous busy timeout rides out writer contention between API and workers.
    dbapi_conn.execute("PRAGMA busy_timeout=30000")
    dbapi_conn.execute("PRAGMA journal_mode=WAL")
    # With WAL, NORMAL is crash-safe (a power loss may drop the last commits, a
    # process crash loses nothing) and saves an fsync per commit.
    dbapi_conn.execute("PRAGMA synchronous=NORMAL")
    dbapi_conn.execute("PRAGMA foreign_keys=ON")


def hold_write_lock(db: sa.Connection | Session) -> None:
    """Take SQLite's write lock now, if this transaction does not hold it yet.

    pysqlite begins a transaction only at its first write, so what a write transaction
    read before that came from outside it and may be stale by the time it writes. On
    PostgreSQL row locks (`FOR UPDATE`) do this job; there this is a no-op.
    """
    conn = db.connection() if isinstance(db, Session) else db
    if conn.dialect.name != "sqlite":
        return
    dbapi_conn: Any = conn.connection.dbapi_connection
    if not dbapi_conn.in_transaction:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str, *, pool_size: int = 20) -> sa.Engine:
    url = normalise_url(url)
    if is_sqlite(url):
        path = sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        base = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=sa.pool.QueuePool,
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        event.listen(base, "connect", _sqlite_pragmas)
        return base.execution_options(schema_translate_map={APP_SCHEMA: None})
    engine = sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size)
    _ping_after_idle(engine, PING_AFTER_IDLE_SEC)
    return engine


# A pooled PostgreSQL connection is pinged before use once it has been idle this long.
PING_AFTER_IDLE_SEC = 0.5


def _ping_after_idle(engine: sa.Engine, idle_sec: float) -> None:
    """Check a pooled connection before use, but only after it sat idle for `idle_sec`.

    A server restart leaves the pool's connections dead; pinging an idle one at checkout
    finds that out before a statement does, and invalidates the whole pool, as
    `pool_pre_ping` would. Pinging on every checkout costs a round trip each, and a run
    checks out a connection for each of its transactions (about 10 ms of a document run's
    40-50 ms here); a connection in steady use is back within milliseconds and the
    server cannot have restarted since. Left uncovered: a connection that broke within
    `idle_sec` of its last use fails its next statement, which then invalidates the pool.
    """
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")  # none on a fresh connection
        if since is None or time.monotonic() - since < idle_sec:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise sa.exc.InvalidatePoolError(f"ping after {idle_sec}s idle failed") from exc
