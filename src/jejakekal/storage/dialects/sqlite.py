"""SQLite: one file holds DBOS's tables (unqualified, in `main`) and ours (schema `app`
mapped to `main`).

WAL lets readers run beside the single writer, and pysqlite's IMMEDIATE mode takes the
write lock at the first write, so two writers queue on the busy timeout instead of
deadlocking on a lock upgrade; a transaction that must read under the lock takes it
first (`hold_write_lock`). No data-modifying CTEs, and no round trips: a step and its
run change are two statements.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from jejakekal.storage import schema as s
from jejakekal.storage.dialects import common

NAME = "sqlite"


def path_of(url: str) -> Path:
    return Path(sa.make_url(url).database or "")


def _pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = "IMMEDIATE"
    # A generous busy timeout rides out writer contention between API and workers.
    dbapi_conn.execute("PRAGMA busy_timeout=30000")
    dbapi_conn.execute("PRAGMA journal_mode=WAL")
    # With WAL, NORMAL is crash-safe (a power loss may drop the last commits, a
    # process crash loses nothing) and saves an fsync per commit.
    dbapi_conn.execute("PRAGMA synchronous=NORMAL")
    dbapi_conn.execute("PRAGMA foreign_keys=ON")


def create_engine(url: str, *, pool_size: int) -> sa.Engine:
    path_of(url).parent.mkdir(parents=True, exist_ok=True)
    base = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=sa.pool.QueuePool,
        pool_size=pool_size,
        max_overflow=pool_size,
    )
    event.listen(base, "connect", _pragmas)
    return base.execution_options(schema_translate_map={s.APP_SCHEMA: None})


def insert(table: sa.Table) -> Any:
    return sqlite_insert(table)


def hold_write_lock(conn: sa.Connection) -> None:
    """Take the write lock now, if this transaction does not hold it yet.

    pysqlite begins a transaction only at its first write, so what a write transaction
    read before that came from outside it and may be stale by the time it writes.
    """
    dbapi_conn: Any = conn.connection.dbapi_connection
    if not dbapi_conn.in_transaction:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def record_step_and_change(
    conn: sa.Connection, params: dict[str, object], columns: tuple[str, ...], *, guarded: bool
) -> bool:
    """Upsert the step row, then update the run: two statements in the caller's
    transaction. True when the run changed (a guarded change may not)."""
    conn.execute(_UPSERT_STEP, params)
    return conn.execute(common.update_run(columns, guarded=guarded), params).first() is not None


_UPSERT_STEP = common.upsert_step(insert)
