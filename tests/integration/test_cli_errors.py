"""Mistakes an operator makes in the first hour, each answered by the CLI in one line.

Every command runs as a real process (`python -m jejakekal.cli.main`), from an empty
folder, so that whatever it creates on its way would show.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from conftest import Api, make_settings, run_cli
from jejakekal.bootstrap import prepare_database
from jejakekal.storage.database import Database
from jejakekal.storage.engine import is_sqlite, normalise_url, sqlite_path

CLI = [sys.executable, "-m", "jejakekal.cli.main"]
UNREACHABLE_PG = "postgresql://jejakekal:secret@127.0.0.1:1/nothing"


def _cli(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(folder, *args, **env)


def _assert_one_line_error(result: subprocess.CompletedProcess[str], *named: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("error: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    for text in named:
        assert text in result.stderr


def _pg_relations(url: str) -> int:
    """Schemas and tables of the product or DBOS in a PostgreSQL database."""
    plain = normalise_url(url).replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM information_schema.schemata"
            "        WHERE schema_name IN ('app', 'dbos'))"
            "     + (SELECT count(*) FROM information_schema.tables"
            "        WHERE table_schema NOT IN ('pg_catalog', 'information_schema'))"
        ).fetchone()
    assert row is not None
    return int(row[0])


def _prepared(database_url: str, home: Path) -> None:
    settings = make_settings(database_url, home)
    db = Database.open(database_url, pool_size=1)
    try:
        prepare_database(settings, db)
    finally:
        db.dispose()


READING_COMMANDS = [
    ("export", "run-0123456789abcdef01234567"),
    ("sql", "SELECT 1 AS one"),
    ("workflow", "list"),
    ("workflow", "get", "run-0123456789abcdef01234567"),
    ("workflow", "steps", "intent-0123"),
    ("workflow", "cancel", "intent-0123"),
    ("workflow", "resume", "intent-0123"),
]


@pytest.mark.parametrize("command", READING_COMMANDS, ids=" ".join)
def test_commands_on_a_missing_database_refuse_in_one_line_and_create_nothing(
    command: tuple[str, ...], database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "cwd"
    home = folder / "home"

    result = _cli(folder, *command, JEJAKEKAL_HOME=str(home), JEJAKEKAL_DATABASE_URL=database_url)

    _assert_one_line_error(result, "jejakekal db reset")
    assert list(folder.iterdir()) == []
    if is_sqlite(database_url):
        assert not sqlite_path(database_url).exists()
    else:
        assert _pg_relations(database_url) == 0


def test_the_default_database_missing_leaves_no_home_folder(tmp_path: Path) -> None:
    result = _cli(tmp_path, "export", "run-0123456789abcdef01234567")

    _assert_one_line_error(result, str(tmp_path / ".jejakekal" / "jejakekal.sqlite"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", READING_COMMANDS[:3], ids=" ".join)
def test_commands_on_an_unreachable_database_refuse_in_one_line_without_the_password(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    result = _cli(tmp_path, *command, JEJAKEKAL_DATABASE_URL=UNREACHABLE_PG)

    _assert_one_line_error(result, "cannot reach", "127.0.0.1:1/nothing")
    assert "secret" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (("bench", "throughput", "--db", "sqlite"), {}, "'sqlite'"),
        (("drill", "crash", "--db", "mysql://x"), {}, "'mysql://x'"),
        (("golden", "record", "--db", "sqlite://"), {}, "'sqlite://'"),
        (("workflow", "list", "--db", "nonsense"), {}, "'nonsense'"),
        (("bench", "ingest", "--db", UNREACHABLE_PG), {}, "cannot reach"),
        (("worker",), {"JEJAKEKAL_DATABASE_URL": UNREACHABLE_PG}, "cannot reach"),
        (("api",), {"JEJAKEKAL_DATABASE_URL": UNREACHABLE_PG}, "cannot reach"),
        (("db", "reset"), {"JEJAKEKAL_DATABASE_URL": UNREACHABLE_PG}, "cannot reach"),
        (("export", "x"), {"JEJAKEKAL_DATABASE_URL": "sqlite"}, "JEJAKEKAL_DATABASE_URL"),
        (("sql", "SELECT 1"), {"DATABASE_URL": "postgresql://h:port/x"}, "DATABASE_URL"),
        (("export", "x"), {"API_PORT": "abc"}, "API_PORT must be an integer, not 'abc'"),
        (("sql", "SELECT 1"), {"JEJAKEKAL_QUEUE_POLL_SEC": "x"}, "JEJAKEKAL_QUEUE_POLL_SEC"),
        (("worker",), {"JEJAKEKAL_LOG_LEVEL": "loud"}, "JEJAKEKAL_LOG_LEVEL"),
        (("serve",), {"UI_PORT": "99999"}, "UI_PORT"),
        (("bench", "check", "--budgets", "missing.json"), {}, "missing.json"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_a_user_error_is_one_line_naming_the_bad_value_and_writes_nothing(
    args: tuple[str, ...], env: dict[str, str], named: str, tmp_path: Path
) -> None:
    result = _cli(tmp_path, *args, **env)

    _assert_one_line_error(result, named)
    assert "secret" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def _ours(api: Api, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "JEJAKEKAL_HOME": str(api.settings.home),
        "JEJAKEKAL_DATABASE_URL": api.settings.resolved_database_url,
    }
    return _cli(api.settings.home, *args, **env)


def _stdout(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_workflow_commands_and_export_take_a_run_id_as_well_as_a_workflow_id(api: Api) -> None:
    workflow_id = api.create_intent("ask before acting")
    run_id = api.start(workflow_id)["runId"]
    api.wait_status(workflow_id, "waiting_input")

    by_run = [_stdout(_ours(api, "workflow", c, run_id)) for c in ("get", "steps")]
    by_workflow = [_stdout(_ours(api, "workflow", c, workflow_id)) for c in ("get", "steps")]
    cancelled = _stdout(_ours(api, "workflow", "cancel", run_id))
    resumed = _stdout(_ours(api, "workflow", "resume", run_id))
    bundles = {_stdout(_ours(api, "export", i)) for i in (run_id, workflow_id)}

    assert by_run == by_workflow
    assert json.loads(by_run[0])["workflow_id"] == workflow_id
    assert cancelled == f"cancelled workflow {workflow_id}\n"
    assert resumed.startswith(f"resumed workflow {workflow_id} (")
    assert len(bundles) == 1
    assert run_id in bundles.pop()


def test_an_unknown_run_id_fails_in_one_line_naming_it(database_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    _prepared(database_url, home)
    env = {"JEJAKEKAL_HOME": str(home), "JEJAKEKAL_DATABASE_URL": database_url}

    exported = _cli(tmp_path / "cwd", "export", "run-nope", **env)
    got = _cli(tmp_path / "cwd", "workflow", "get", "run-nope", **env)

    _assert_one_line_error(exported, "run-nope")
    _assert_one_line_error(got, "run-nope")


LONG = "x" * 300


def test_sql_table_shortens_long_cells_and_json_prints_them_whole(
    database_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    _prepared(database_url, home)
    env = {"JEJAKEKAL_HOME": str(home), "JEJAKEKAL_DATABASE_URL": database_url}
    query = f"SELECT '{LONG}' AS long_cell, 'short' AS short_cell"

    table = _cli(tmp_path, "sql", query, **env)
    as_json = _cli(tmp_path, "sql", "--json", query, **env)

    assert table.returncode == 0, table.stderr
    assert LONG not in table.stdout
    assert "x" * 127 + "…" in table.stdout
    assert "short" in table.stdout
    assert table.stdout.rstrip().endswith(
        "1 cell(s) shortened to 128 characters; --json prints them whole"
    )
    assert json.loads(as_json.stdout) == [{"long_cell": LONG, "short_cell": "short"}]
