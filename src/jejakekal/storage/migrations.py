"""Versioned, idempotent migrations of the app tables, and `db reset`.

Each migration runs once, in order, in its own transaction; concurrent migrators
(an API and a worker starting together) serialise on the SQLite write lock or a
PostgreSQL advisory lock, and the loser finds the work done.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa

from jejakekal.storage import schema as s
from jejakekal.storage import search

# An arbitrary constant: every jejakekal process migrating the same PostgreSQL database.
_PG_LOCK_KEY = 0x6A656A616B


def _v1_core_tables(conn: sa.Connection) -> None:
    core = [s.intents, s.recipes, s.runs, s.run_steps, s.opencode_calls, s.effects]
    s.metadata.create_all(conn, tables=[*core, s.mock_receipts, s.marks], checkfirst=True)


def _v2_documents(conn: sa.Connection) -> None:
    s.metadata.create_all(conn, tables=[s.artifacts, s.chunks], checkfirst=True)
    search.create_index(conn)


def _v3_workers(conn: sa.Connection) -> None:
    s.metadata.create_all(conn, tables=[s.workers], checkfirst=True)


def _v4_one_mark_per_step(conn: sa.Connection) -> None:
    for index in s.marks.indexes:
        index.create(conn, checkfirst=True)


MIGRATIONS: list[tuple[int, str, Callable[[sa.Connection], None]]] = [
    (1, "core tables", _v1_core_tables),
    (2, "document artifacts, chunks and their full-text index", _v2_documents),
    (3, "worker heartbeats", _v3_workers),
    (4, "one crash-drill mark per run and step", _v4_one_mark_per_step),
]


def _lock(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {s.APP_SCHEMA}"))
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    else:
        # pysqlite only begins on DML; take the write lock before the first read, or
        # two migrators would both see an empty database.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def migrate(engine: sa.Engine) -> list[int]:
    """Apply pending migrations and seed recipes; return the versions applied."""
    applied: list[int] = []
    with engine.connect() as conn, conn.begin():
        _lock(conn)
        s.schema_migrations.create(conn, checkfirst=True)
        done = set(conn.execute(sa.select(s.schema_migrations.c.version)).scalars())
        for version, name, step in MIGRATIONS:
            if version in done:
                continue
            step(conn)
            conn.execute(
                s.schema_migrations.insert().values(
                    version=version, name=name, applied_at=datetime.now(UTC)
                )
            )
            applied.append(version)
        seed_recipes(conn)
    return applied


def seed_recipes(conn: sa.Connection) -> None:
    existing = set(conn.execute(sa.select(s.recipes.c.name)).scalars())
    for recipe in s.SEED_RECIPES:
        if recipe["name"] not in existing:
            conn.execute(s.recipes.insert().values(**recipe))


def drop_app_tables(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {search.SQLITE_INDEX_PREFIX}")
        s.metadata.drop_all(conn, checkfirst=True)


def drop_dbos_tables(engine: sa.Engine) -> None:
    """Drop DBOS's system tables; DBOS recreates them at its next launch."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("DROP SCHEMA IF EXISTS dbos CASCADE"))
            return
        names = conn.execute(
            sa.text(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ).scalars()
        ours = {t.name for t in s.metadata.sorted_tables}
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        for name in list(names):
            if name not in ours and not name.startswith(search.SQLITE_INDEX_PREFIX):
                conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
