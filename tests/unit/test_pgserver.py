"""The throwaway PostgreSQL server used by the test suite really starts and really goes away."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import psycopg
import pytest

_TESTS_DIR = str(Path(__file__).resolve().parents[1])
if _TESTS_DIR not in sys.path:  # pgserver.py is a helper module in tests/, not a package
    sys.path.insert(0, _TESTS_DIR)

from pgserver import ThrowawayPostgres  # noqa: E402

_USER_TABLES = (
    "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
)


def test_started_server_answers_and_creates_empty_databases() -> None:
    with ThrowawayPostgres() as pg:
        assert pg.url == f"postgresql://postgres@127.0.0.1:{pg.port}/jejakekal_test"
        with psycopg.connect(pg.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)

        url = pg.create_database("isolated_case")
        assert url == f"postgresql://postgres@127.0.0.1:{pg.port}/isolated_case"
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("isolated_case",)
            assert conn.execute(_USER_TABLES).fetchone() == (0,)
            conn.execute("CREATE TABLE t (x int)")
            conn.execute("INSERT INTO t VALUES (42)")
            assert conn.execute("SELECT x FROM t").fetchone() == (42,)


def test_stop_releases_port_and_removes_tmpdir() -> None:
    pg = ThrowawayPostgres().start()
    port, tmpdir = pg.port, pg.tmpdir
    assert tmpdir is not None and tmpdir.is_dir()

    pg.stop()
    pg.stop()  # idempotent

    assert not tmpdir.exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
