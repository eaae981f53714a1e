"""PostgreSQL connections: a pooled connection the server dropped is replaced before use.

The pool pings a connection at checkout only once it sat idle for a while
(`PING_AFTER_IDLE_SEC`); a server restart, or a backend killed by an operator, is found
then, and the statement runs on a fresh connection. Connections in steady use are not
pinged: that round trip per transaction is what the idle rule saves.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

from conftest import fresh_pg_database
from jejakekal.storage.database import Database
from jejakekal.storage.dialects import postgresql


@pytest.fixture
def pg_url(pg_server_url: str) -> str:
    return fresh_pg_database(pg_server_url)


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Count the pings the pool sends, with the idle threshold at 50 ms."""
    monkeypatch.setattr(postgresql, "PING_AFTER_IDLE_SEC", 0.05)
    sent: list[int] = []
    real = PGDialect_psycopg.do_ping

    def counting(self: PGDialect_psycopg, dbapi_conn: object) -> bool:
        sent.append(1)
        return bool(real(self, dbapi_conn))

    monkeypatch.setattr(PGDialect_psycopg, "do_ping", counting)
    yield sent


def _backend_pid(db: Database) -> int:
    with db.read() as tx:
        return int(tx.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _kill(url: str, pid: int) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_connection_killed_while_idle_is_replaced_before_the_next_statement(
    pg_url: str, pings: list[int]
) -> None:
    db = Database.open(pg_url)
    try:
        killed = _backend_pid(db)
        _kill(pg_url, killed)
        time.sleep(0.1)  # idle past the threshold

        assert _backend_pid(db) != killed
        assert len(pings) == 1
    finally:
        db.dispose()


def test_without_the_idle_ping_the_dead_connection_fails_the_statement(
    pg_url: str, pings: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The counter-case, so the test above cannot pass by luck: no ping, a failed statement.
    monkeypatch.setattr(postgresql, "PING_AFTER_IDLE_SEC", 3600.0)
    db = Database.open(pg_url)
    try:
        killed = _backend_pid(db)
        _kill(pg_url, killed)
        time.sleep(0.1)

        with pytest.raises(sa.exc.OperationalError):
            _backend_pid(db)
        assert pings == []
    finally:
        db.dispose()


def test_connections_in_steady_use_are_not_pinged(pg_url: str, pings: list[int]) -> None:
    db = Database.open(pg_url)
    try:
        for _ in range(20):
            _backend_pid(db)
        assert pings == []

        time.sleep(0.1)
        _backend_pid(db)
        assert len(pings) == 1
    finally:
        db.dispose()
