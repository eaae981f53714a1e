"""`jejakekal sql`: SQL where `app.*` and `dbos.*` resolve on both backends.

Read-only unless the operator asks for a write (`--write`, for deliberate repairs or the
courses' tamper drills).
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import sqlalchemy as sa

from jejakekal.storage.database import Database
from jejakekal.storage.engine import is_sqlite, normalise_url, sqlite_path
from jejakekal.storage.runs import find_run


def run_readonly(url: str, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one statement read-only; return column names and rows."""
    return run_sql(url, query, write=False)


def run_sql(url: str, query: str, *, write: bool) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one statement (committed only when `write`); return column names and rows."""
    url = normalise_url(url)
    if is_sqlite(url):
        return _sqlite_write(url, query) if write else _sqlite(url, query)
    import psycopg

    # psycopg directly, with no parameters: the operator's `%` in a LIKE stays literal.
    dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        conn.read_only = not write
        with conn.cursor() as cursor:
            cursor.execute(query.encode())
            columns = [d.name for d in cursor.description or []]
            rows = [tuple(r) for r in cursor.fetchall()] if cursor.description else []
        if write:
            conn.commit()
        else:
            conn.rollback()
    return columns, rows


def _sqlite(url: str, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    path = sqlite_path(url).resolve()
    if not path.exists():
        raise FileNotFoundError(f"no database at {path}; start the product once or run `db reset`")
    target = f"file:{path}?mode=ro"
    conn = sqlite3.connect(target, uri=True)
    try:
        # The one file holds both table families; two read-only aliases of it let
        # the courses' `app.runs` and `dbos.workflow_status` resolve as on PostgreSQL.
        conn.execute("ATTACH DATABASE ? AS app", (target,))
        conn.execute("ATTACH DATABASE ? AS dbos", (target,))
        conn.execute("PRAGMA query_only=1")
        cursor = conn.execute(query)
        columns = [d[0] for d in cursor.description or []]
        return columns, [tuple(r) for r in cursor.fetchall()]
    finally:
        conn.close()


_STRING_LITERAL = re.compile(r"('(?:[^']|'')*')")
_QUALIFIER = re.compile(r"\b(?:app|dbos)\.(?=[A-Za-z_\"])", re.IGNORECASE)


def unqualify(query: str) -> str:
    """Drop `app.` / `dbos.` before table names, outside string literals."""
    parts = _STRING_LITERAL.split(query)
    return "".join(p if i % 2 else _QUALIFIER.sub("", p) for i, p in enumerate(parts))


def _sqlite_write(url: str, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    path = sqlite_path(url).resolve()
    if not path.exists():
        raise FileNotFoundError(f"no database at {path}; start the product once or run `db reset`")
    # One writable handle on the file; both table families live in it unqualified.
    conn = sqlite3.connect(path, timeout=30)
    try:
        cursor = conn.execute(unqualify(query))
        columns = [d[0] for d in cursor.description or []]
        rows = [tuple(r) for r in cursor.fetchall()]
        conn.commit()
        return columns, rows
    finally:
        conn.close()


def workflow_id_for(db: Database, run_or_workflow_id: str) -> str:
    """The workflow id of the run named by a run id or a workflow id.

    An id no run holds passes through unchanged: DBOS knows workflows the product keeps
    no run row for (an intent run's child workflows), and judges unknown ids itself.
    """
    with db.read() as tx:
        run = find_run(tx, run_or_workflow_id)
    return run_or_workflow_id if run is None else run.workflow_id
