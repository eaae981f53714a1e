"""`jejakekal db reset --app` and `--sys` each empty one family of tables and leave the
other as it was, on both backends (the two together: tests/contract, "db reset").

Runs are made by a real kernel first, so both families hold rows; SQL counts every
table of each family before and after, the tables listed from the database itself.
"""

from __future__ import annotations

import subprocess
from functools import partial
from pathlib import Path

import pytest

from conftest import make_settings, run_cli
from jejakekal.bootstrap import build_kernel
from jejakekal.domain.contracts import DocRunRequest
from jejakekal.drills.oracles import Oracles
from jejakekal.drills.processes import wait_for
from jejakekal.storage import schema as s
from jejakekal.storage.engine import is_sqlite
from jejakekal.storage.oracles import read
from jejakekal.storage.search import SQLITE_INDEX_PREFIX

APP_TABLES = sorted(t.name for t in s.metadata.sorted_tables)
# Rows a reset writes back at once: the recipes it reseeds, the versions it migrates.
RESEEDED = {"recipes", "schema_migrations"}
DBOS_RESEEDED = {"dbos_migrations"}
RUNS = 2


def _dbos_tables(url: str) -> list[str]:
    """DBOS's tables as the database lists them: a schema of their own on PostgreSQL,
    beside ours in the one file on SQLite."""
    if not is_sqlite(url):
        query = "SELECT table_name AS name FROM information_schema.tables"
        rows = read(url, query + " WHERE table_schema = 'dbos'")
        return sorted(str(r["name"]) for r in rows)
    rows = read(url, "SELECT name FROM sqlite_master WHERE type = 'table'")
    names = (str(r["name"]) for r in rows)
    ours = (*APP_TABLES, SQLITE_INDEX_PREFIX, "sqlite_")
    return sorted(n for n in names if not n.startswith(ours))


def _counts(url: str, family: str, tables: list[str]) -> dict[str, int]:
    # Table names come from the schema or the database's own catalogue, not from input.
    return {t: int(read(url, f"SELECT count(*) AS n FROM {family}.{t}")[0]["n"]) for t in tables}


def _both(url: str) -> dict[str, dict[str, int]]:
    return {"app": _counts(url, "app", APP_TABLES), "dbos": _counts(url, "dbos", _dbos_tables(url))}


def _is_done(oracles: Oracles, run_id: str) -> bool:
    return oracles.run_status(run_id) == "done"


def _make_runs(database_url: str, home: Path) -> None:
    """Document runs to the end, by a whole process's kernel, closed before the reset."""
    kernel = build_kernel(make_settings(database_url, home), "full")
    oracles = Oracles(database_url)
    try:
        started = [
            kernel.control.start_doc_run(DocRunRequest(source=f"reset me {n}")).run_id
            for n in range(RUNS)
        ]
        for run_id in started:
            wait_for(partial(_is_done, oracles, run_id), timeout=60, what=run_id)
    finally:
        kernel.close()


def _reset(database_url: str, tmp_path: Path, which: str) -> subprocess.CompletedProcess[str]:
    home = str(tmp_path / "home")
    return run_cli(
        tmp_path, "db", "reset", which, JEJAKEKAL_DATABASE_URL=database_url, JEJAKEKAL_HOME=home
    )


@pytest.mark.timeout(120)
def test_db_reset_app_empties_the_app_tables_and_leaves_dbos_tables_untouched(
    database_url: str, tmp_path: Path
) -> None:
    _make_runs(database_url, tmp_path / "home")
    before = _both(database_url)

    done = _reset(database_url, tmp_path, "--app")
    after = _both(database_url)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("reset app tables in ")
    assert before["app"]["runs"] == RUNS and before["app"]["artifacts"] > 0
    assert before["app"]["run_steps"] > 0 and before["app"]["workers"] > 0
    assert after["app"] == {t: before["app"][t] if t in RESEEDED else 0 for t in APP_TABLES}
    assert before["app"]["recipes"] > 0 and before["app"]["schema_migrations"] > 0
    assert before["dbos"]["workflow_status"] == RUNS and before["dbos"]["operation_outputs"] > 0
    assert after["dbos"] == before["dbos"]


@pytest.mark.timeout(120)
def test_db_reset_sys_empties_dbos_tables_and_leaves_the_app_tables_untouched(
    database_url: str, tmp_path: Path
) -> None:
    _make_runs(database_url, tmp_path / "home")
    before = _both(database_url)

    done = _reset(database_url, tmp_path, "--sys")
    after = _both(database_url)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("reset DBOS tables in ")
    assert before["dbos"]["workflow_status"] == RUNS and before["dbos"]["operation_outputs"] > 0
    assert sorted(after["dbos"]) == sorted(before["dbos"])
    assert after["dbos"] == {
        t: before["dbos"][t] if t in DBOS_RESEEDED else 0 for t in before["dbos"]
    }
    assert before["app"]["runs"] == RUNS and before["app"]["artifacts"] > 0
    assert after["app"] == before["app"]


def test_db_reset_with_both_flags_is_refused_and_drops_nothing(
    database_url: str, tmp_path: Path
) -> None:
    _make_runs(database_url, tmp_path / "home")
    before = _both(database_url)

    home = str(tmp_path / "home")
    done = run_cli(
        tmp_path,
        "db",
        "reset",
        "--app",
        "--sys",
        JEJAKEKAL_DATABASE_URL=database_url,
        JEJAKEKAL_HOME=home,
    )

    assert done.returncode == 1
    assert "exclude each other" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert _both(database_url) == before
