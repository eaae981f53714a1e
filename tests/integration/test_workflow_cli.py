"""`jejakekal workflow ...` as an operator runs it, beside the real `dbos workflow` CLI.

Both run as processes on the database of a live API server; their JSON must be equal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import Api, make_settings, q
from jejakekal.bootstrap import prepare_database
from jejakekal.storage.database import Database
from jejakekal.storage.engine import dbos_url, normalise_url

CLI = [sys.executable, "-m", "jejakekal.cli.main", "workflow"]
DBOS_CLI = [str(Path(sys.executable).parent / "dbos"), "workflow"]


def _run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


def _ours(api: Api, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "JEJAKEKAL_HOME": str(api.settings.home),
        "JEJAKEKAL_DATABASE_URL": api.settings.resolved_database_url,
    }
    return _run([*CLI, *args], env)


def _json_of(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _both(api: Api, *args: str) -> tuple[Any, Any]:
    """Our command's JSON and `dbos workflow`'s for the same arguments and database."""
    # `dbos -s` takes the product's URL as is on SQLite (sqlite:///PATH) and the plain
    # postgresql:// form on PostgreSQL.
    url = dbos_url(normalise_url(api.settings.resolved_database_url))
    return _json_of(_ours(api, *args)), _json_of(_run([*DBOS_CLI, *args, "-s", url]))


def _succeeded_run(api: Api, goal: str) -> str:
    workflow_id = api.create_intent(goal)
    api.start(workflow_id)
    api.wait_status(workflow_id, "succeeded")
    return workflow_id


def _dbos_status(api: Api, workflow_id: str) -> str:
    rows = api.sql(
        q("SELECT status FROM dbos.workflow_status WHERE workflow_uuid='{w}'", w=workflow_id)
    )
    return str(rows[0]["status"])


def _attempt(output: Any) -> Any:
    value = json.loads(output) if isinstance(output, str) else output
    return value["attempt"]


def test_get_prints_the_same_json_as_dbos_workflow_get(api: Api) -> None:
    workflow_id = _succeeded_run(api, "plain")

    ours, theirs = _both(api, "get", workflow_id)

    assert ours == theirs
    assert ours["workflow_id"] == workflow_id
    assert ours["status"] == "SUCCESS"
    assert ours["output"]["status"] == "succeeded"


def test_steps_prints_the_same_json_as_dbos_workflow_steps(api: Api) -> None:
    workflow_id = _succeeded_run(api, "plain")

    ours, theirs = _both(api, "steps", workflow_id)

    assert ours == theirs
    assert [s["function_id"] for s in ours] == list(range(1, len(ours) + 1))
    assert "ExecuteST" not in {s["function_name"] for s in ours}  # a child's step


def test_list_prints_the_same_json_as_dbos_workflow_list(api: Api) -> None:
    # Three intent runs, each with one child workflow: six in all, one over the limit.
    intents = [_succeeded_run(api, f"plain {n}") for n in range(3)]

    ours, theirs = _both(api, "list", "--limit", "5")
    ours_named, theirs_named = _both(api, "list", "--name", "run_intent", "--status", "SUCCESS")

    assert ours == theirs
    assert len(ours) == 5
    assert ours_named == theirs_named
    assert [w["workflow_id"] for w in ours_named] == intents


def test_cancel_then_resume_continues_a_waiting_run_without_repeating_steps(api: Api) -> None:
    workflow_id = api.create_intent("ask before acting")
    run_id = api.start(workflow_id)["runId"]
    api.wait_status(workflow_id, "waiting_input")

    cancelled = _ours(api, "cancel", workflow_id)
    status_after_cancel = _dbos_status(api, workflow_id)
    resumed = _ours(api, "resume", workflow_id)
    status_after_resume = _dbos_status(api, workflow_id)

    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout == f"cancelled workflow {workflow_id}\n"
    assert status_after_cancel == "CANCELLED"
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.startswith(f"resumed workflow {workflow_id} (")
    assert status_after_resume in ("PENDING", "ENQUEUED")

    api.wait_status(workflow_id, "waiting_input")
    answer = {"type": "input", "payload": {}}
    reply = api.client.post(f"/runs/{run_id}/events", json=answer)
    assert reply.status_code == 202, reply.text
    api.wait_status(workflow_id, "succeeded")
    rows = api.sql(q("SELECT step_id, output FROM app.run_steps WHERE run_id='{r}'", r=run_id))
    attempts = {r["step_id"]: _attempt(r["output"]) for r in rows}
    assert attempts == {"CompileST": 1, "ApplyPatchST": 1, "DecideST": 1, "ExecuteST": 1}


def test_dbos_cli_sees_a_cancel_made_by_ours(api: Api) -> None:
    workflow_id = api.create_intent("ask first")
    api.start(workflow_id)
    api.wait_status(workflow_id, "waiting_input")

    assert _ours(api, "cancel", workflow_id).returncode == 0
    ours, theirs = _both(api, "get", workflow_id)

    assert ours == theirs
    assert ours["status"] == "CANCELLED"


def test_cancel_of_a_finished_workflow_leaves_it_finished(api: Api) -> None:
    workflow_id = _succeeded_run(api, "plain")

    result = _ours(api, "cancel", workflow_id)

    assert result.returncode == 0, result.stderr
    assert "is SUCCESS" in result.stdout
    assert _dbos_status(api, workflow_id) == "SUCCESS"


@pytest.mark.parametrize("command", ["get", "steps", "cancel", "resume"])
def test_unknown_workflow_id_fails_with_one_line(
    command: str, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path / "home")
    settings.home.mkdir(parents=True)
    db = Database.open(database_url, pool_size=1)
    try:
        prepare_database(settings, db)
    finally:
        db.dispose()
    env = {**os.environ, "JEJAKEKAL_HOME": str(settings.home)}

    result = _run([*CLI, command, "no-such-workflow", "--db", database_url], env)

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ")
    assert "no-such-workflow" in result.stderr


@pytest.mark.parametrize(
    "url", ["sqlite:///{tmp}/missing/jejakekal.sqlite", "postgresql://127.0.0.1:1/nothing"]
)
def test_unreachable_database_fails_with_one_line(url: str, tmp_path: Path) -> None:
    result = _run([*CLI, "list", "--db", url.format(tmp=tmp_path)], {**os.environ})

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr


def test_help_lists_the_five_commands() -> None:
    result = _run([*CLI, "--help"], {**os.environ, "COLUMNS": "200"})

    assert result.returncode == 0, result.stderr
    for command in ("list", "get", "steps", "cancel", "resume"):
        assert command in result.stdout


# -- issue 25: operator actions from the CLI, audited ------------------------------------


def _actions(api: Api, run_id: str) -> list[dict[str, Any]]:
    return api.sql(
        q(
            "SELECT action, actor, origin, reason FROM app.operator_actions"
            " WHERE run_id = '{r}' ORDER BY at, id",
            r=run_id,
        )
    )


def test_cancel_and_resume_of_a_run_are_audited_with_actor_and_reason(api: Api) -> None:
    workflow_id = api.create_intent("ask before acting")
    run_id = api.start(workflow_id)["runId"]
    api.wait_status(workflow_id, "waiting_input")

    cancelled = _ours(api, "cancel", run_id, "--actor", "ops-ana", "--reason", "wrong input")
    resumed = _ours(api, "resume", run_id, "--actor", "ops-ana")

    assert cancelled.stdout == f"cancelled workflow {workflow_id}\n", cancelled.stderr
    assert resumed.stdout.startswith(f"resumed workflow {workflow_id} ("), resumed.stderr
    assert _actions(api, run_id) == [
        {"action": "cancel", "actor": "ops-ana", "origin": "cli", "reason": "wrong input"},
        {"action": "resume", "actor": "ops-ana", "origin": "cli", "reason": None},
    ]
    api.client.post(f"/runs/{run_id}/cancel")


def test_fork_starts_a_new_run_from_a_step_and_batch_counts_then_acts(api: Api) -> None:
    parent = _succeeded_run(api, "plain")
    run_id = api.client.get(f"/runs/{parent}").json()["runId"]

    forked = _json_of(_ours(api, "fork", run_id, "--step", "DecideST", "--reason", "again"))
    api.wait_status(forked["runId"], "succeeded")
    bad_step = _ours(api, "fork", run_id, "--step", "nowhere")
    dry = _json_of(_ours(api, "batch", "cancel", "--status", "succeeded", "--dry-run"))
    empty = _ours(api, "batch", "retry")

    assert forked["parentRunId"] == run_id and forked["fromStep"] == "DecideST"
    assert _actions(api, run_id)[0]["action"] == "fork"
    assert bad_step.returncode == 1 and len(bad_step.stderr.strip().splitlines()) == 1
    assert "DecideST" in bad_step.stderr
    assert (dry["dryRun"], dry["matched"], dry["done"]) == (True, 2, [])
    assert empty.returncode == 1 and "filter" in empty.stderr
    assert api.count("SELECT COUNT(*) FROM app.operator_actions") == 1
