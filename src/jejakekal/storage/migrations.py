"""Versioned, idempotent migrations of the app tables, and `db reset`.

Each migration runs once, in order, in one transaction. Concurrent migrators (a fleet
starting together on a new database) serialise on one lock taken before anything
else, `migration_lock`: a PostgreSQL session advisory lock, or on SQLite an exclusive
`flock` on a file beside the database. Whoever comes second finds the work done.
"""

from __future__ import annotations

import fcntl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from jejakekal.storage import schema as s
from jejakekal.storage import search
from jejakekal.storage.database import Database, Tx

# An arbitrary constant: every jejakekal process migrating the same PostgreSQL database.
_PG_LOCK_KEY = 0x6A656A616B
_PG_LOCK_POLL_SEC = 0.05


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


def _v5_gates(conn: sa.Connection) -> None:
    s.metadata.create_all(conn, tables=[s.gates, s.gate_ledger], checkfirst=True)


def _v6_operator_plane(conn: sa.Connection) -> None:
    s.metadata.create_all(conn, tables=[s.operator_actions], checkfirst=True)
    # A database made by release 4 or earlier has `runs` without the fork columns.
    present = {c["name"] for c in sa.inspect(conn).get_columns("runs", schema=_schema(conn))}
    for column in (s.runs.c.parent_run_id, s.runs.c.fork_step):
        if column.name not in present:
            conn.execute(sa.text(f"ALTER TABLE {_runs_table(conn)} ADD COLUMN {column.name} TEXT"))
    for index in s.runs.indexes:
        if index.name == "ix_runs_parent":
            index.create(conn, checkfirst=True)


def _schema(conn: sa.Connection) -> str | None:
    return s.APP_SCHEMA if conn.dialect.name == "postgresql" else None


def _runs_table(conn: sa.Connection) -> str:
    return f"{s.APP_SCHEMA}.runs" if conn.dialect.name == "postgresql" else "runs"


MIGRATIONS: list[tuple[int, str, Callable[[sa.Connection], None]]] = [
    (1, "core tables", _v1_core_tables),
    (2, "document artifacts, chunks and their full-text index", _v2_documents),
    (3, "worker heartbeats", _v3_workers),
    (4, "one crash-drill mark per run and step", _v4_one_mark_per_step),
    (5, "human gates and their ledger", _v5_gates),
    (6, "operator actions, and forks' parent runs", _v6_operator_plane),
]


# The databases this thread holds the migration lock of: the lock is re-entrant, so
# `migrate` can take it alone or inside a caller's hold (bootstrap, across DBOS's too).
_held = threading.local()


@contextmanager
def migration_lock(db: Database) -> Iterator[None]:
    """Hold the one lock every migrator of this database takes before anything else."""
    key = db.engine.url.render_as_string(hide_password=False)
    held: set[str] = _held.__dict__.setdefault("keys", set())
    if key in held:
        yield
        return
    with _acquire(db.engine):
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)


@contextmanager
def _acquire(engine: sa.Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        # A session lock on its own connection, not a transaction's: it must outlive
        # our migration's transaction and cover DBOS's, which use other connections.
        # Taken before `CREATE SCHEMA IF NOT EXISTS`, which races when run at once.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            _wait_for_advisory_lock(conn)
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
        return
    database = engine.url.database or ""
    if database in ("", ":memory:"):
        yield  # a private in-memory database has no other migrator
        return
    path = Path(database)
    # Before the first connection: that one creates the file and switches it to WAL.
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(path.name + "-migrate.lock").open("a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)  # released when the file closes
        yield


def _wait_for_advisory_lock(conn: sa.Connection) -> None:
    # Poll rather than block in `pg_advisory_lock`: a blocked statement is an open
    # transaction, and the holder's DBOS migration runs CREATE INDEX CONCURRENTLY,
    # which waits for every open transaction to end, so the two would wait forever.
    try_lock = sa.text("SELECT pg_try_advisory_lock(:k)")
    while not conn.execute(try_lock, {"k": _PG_LOCK_KEY}).scalar_one():
        time.sleep(_PG_LOCK_POLL_SEC)


def migrate(db: Database) -> list[int]:
    """Apply pending migrations and seed recipes; return the versions applied."""
    with migration_lock(db):
        return _apply(db)


def _apply(db: Database) -> list[int]:
    applied: list[int] = []
    # On SQLite the write lock is held from the start (`Database.write`), so what this
    # transaction reads is what it writes over.
    with db.write() as tx:
        if tx.dialect.name == "postgresql":
            tx.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {s.APP_SCHEMA}"))
        s.schema_migrations.create(tx, checkfirst=True)
        done = set(tx.execute(sa.select(s.schema_migrations.c.version)).scalars())
        for version, name, step in MIGRATIONS:
            if version in done:
                continue
            step(tx)
            tx.execute(
                s.schema_migrations.insert().values(
                    version=version, name=name, applied_at=datetime.now(UTC)
                )
            )
            applied.append(version)
        seed_recipes(tx)
    return applied


def seed_recipes(tx: Tx) -> None:
    existing = set(tx.execute(sa.select(s.recipes.c.name)).scalars())
    for recipe in s.SEED_RECIPES:
        if recipe["name"] not in existing:
            tx.execute(s.recipes.insert().values(**recipe))


def drop_app_tables(db: Database) -> None:
    with db.write() as tx:
        if tx.dialect.name == "sqlite":
            tx.exec_driver_sql(f"DROP TABLE IF EXISTS {search.SQLITE_INDEX_PREFIX}")
        s.metadata.drop_all(tx, checkfirst=True)


def drop_dbos_tables(db: Database) -> None:
    """Drop DBOS's system tables; DBOS recreates them at its next launch."""
    # Not `db.write()`: its up-front write lock would open SQLite's transaction before
    # `PRAGMA foreign_keys=OFF`, which is a no-op inside one, and the drops need it off.
    with db.engine.begin() as tx:
        if tx.dialect.name == "postgresql":
            tx.execute(sa.text("DROP SCHEMA IF EXISTS dbos CASCADE"))
            return
        names = tx.execute(
            sa.text(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ).scalars()
        ours = {t.name for t in s.metadata.sorted_tables}
        tx.exec_driver_sql("PRAGMA foreign_keys=OFF")
        for name in list(names):
            if name not in ours and not name.startswith(search.SQLITE_INDEX_PREFIX):
                tx.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
