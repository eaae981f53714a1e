"""`jejakekal status` as an operator runs it: a real process asks a live API for the
fleet and prints it as tables or as the API's JSON; an API that does not answer is one
line. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Api, free_port, insert_intent_run, run_cli
from jejakekal.domain.lifecycle import RunStatus
from jejakekal.storage.database import Database


def _failed_run(api: Api, run_id: str) -> None:
    db = Database.open(api.settings.resolved_database_url, pool_size=1)
    try:
        insert_intent_run(db, run_id, RunStatus.FAILED)
    finally:
        db.dispose()


def test_status_prints_the_fleet_as_tables_and_as_json(api: Api, tmp_path: Path) -> None:
    _failed_run(api, "run-status-failed")

    tables = run_cli(tmp_path / "shell", "status", "--api-url", api.base_url)
    as_json = run_cli(tmp_path / "shell", "status", "--json", JEJAKEKAL_API_URL=api.base_url)

    assert tables.returncode == 0, tables.stderr
    out = tables.stdout
    assert "1 worker(s) alive · 0 open gate(s) · 1 failed run(s)" in out
    for heading in ("QUEUE", "ENQUEUED", "WORKER", "LAST HEARTBEAT", "FAILED RUN", "ERROR"):
        assert heading in out, heading
    assert "intentQ" in out and "run-status-failed" in out and "alive" in out
    assert as_json.returncode == 0, as_json.stderr
    fleet = json.loads(as_json.stdout)
    assert fleet["failedTotal"] == 1 and fleet["workersAlive"] == 1
    assert [r["runId"] for r in fleet["failed"]] == ["run-status-failed"]
    assert {"kind": "intent", "status": "failed", "count": 1} in fleet["runs"]


def test_status_without_an_api_is_one_line(tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"

    result = run_cli(tmp_path / "shell", "status", "--api-url", nowhere)

    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: cannot reach the API at {nowhere}: ConnectError (is it running?)"]
