"""Whole PostgreSQL databases on a server: wait for it, create one, drop the ones made.

For `jejakekal signoff`, which gives each check on PostgreSQL an empty database of its
own. CREATE and DROP DATABASE cannot run inside a transaction: autocommit connections.
"""

from __future__ import annotations

import time

import psycopg
import sqlalchemy as sa
from psycopg import sql

from jejakekal.domain.errors import DatabaseUnavailable
from jejakekal.storage.engine import normalise_url
from jejakekal.storage.probe import shown

_CONNECT_TIMEOUT_SEC = 10


def wait_until_answering(server_url: str, timeout: float = 30.0) -> None:
    """Return once the server accepts a connection; raise `DatabaseUnavailable` after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(_dsn(server_url), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
                return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise DatabaseUnavailable(f"{shown(server_url)} never answered: {exc}") from None
            time.sleep(0.05)


def create_database(server_url: str, name: str) -> str:
    """Create the empty database `name` on the server and return its URL."""
    with psycopg.connect(
        _dsn(server_url), autocommit=True, connect_timeout=_CONNECT_TIMEOUT_SEC
    ) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = sa.make_url(server_url).set(database=name)
    return url.render_as_string(hide_password=False)


def drop_databases(server_url: str, names: list[str]) -> None:
    """Drop these databases, closing any session still on them (PostgreSQL 13+)."""
    with psycopg.connect(
        _dsn(server_url), autocommit=True, connect_timeout=_CONNECT_TIMEOUT_SEC
    ) as conn:
        for name in names:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(name)))


def _dsn(url: str) -> str:
    plain = sa.make_url(normalise_url(url)).set(drivername="postgresql")
    return plain.render_as_string(hide_password=False)
