"""PostgreSQL: schemas `app` (ours) and `dbos` (DBOS's) in one database.

Row locks (`FOR UPDATE`) order concurrent writers, so there is no write lock to take.
A step and its run change go in one statement (ADR 0003): the step's upsert as a
data-modifying CTE of the run's update, one round trip and one statement's
interpreter time instead of two.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as pg_insert

from jejakekal.storage.dialects import common

NAME = "postgresql"

# A pooled connection is pinged before use once it has been idle this long.
PING_AFTER_IDLE_SEC = 0.5


def create_engine(url: str, *, pool_size: int) -> sa.Engine:
    engine = sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size)
    _ping_after_idle(engine, PING_AFTER_IDLE_SEC)
    return engine


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


def insert(table: sa.Table) -> Any:
    return pg_insert(table)


def hold_write_lock(conn: sa.Connection) -> None:
    """Nothing to take: row locks order writers here."""


def record_step_and_change(
    conn: sa.Connection, params: dict[str, object], columns: tuple[str, ...], *, guarded: bool
) -> bool:
    """One statement: upsert the step row, update the run. True when the run changed."""
    return conn.execute(_step_and_run(columns, guarded), params).first() is not None


@functools.cache
def _step_and_run(columns: tuple[str, ...], guarded: bool) -> sa.Update:
    step = common.upsert_step(insert)
    return common.update_run(columns, guarded=guarded).add_cte(step.cte("step"))
