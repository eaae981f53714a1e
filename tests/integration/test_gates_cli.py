"""`jejakekal gates` as an operator runs it: a real process on the database of a live
product lists the open gates and answers one with origin `cli`. SQL is the oracle, on
SQLite and PostgreSQL."""

from __future__ import annotations

import getpass
import json
import subprocess
from pathlib import Path
from typing import Any

from conftest import Api, q, run_cli


def _gates(api: Api, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`jejakekal gates ARGS` from a fresh shell configured for the product's database."""
    return run_cli(
        tmp_path / "shell",
        "gates",
        *args,
        JEJAKEKAL_HOME=str(api.settings.home),
        JEJAKEKAL_DATABASE_URL=api.settings.resolved_database_url,
    )


def _waiting_gated_run(api: Api, goal: str = "gated by the cli") -> str:
    gates = [{"key": "go", "question": "Run it?"}]
    body = {"goal": goal, "inputs": {"commands": ["echo ok"], "gates": gates}, "constraints": {}}
    intent = api.client.post("/intents", json=body)
    assert intent.status_code == 201, intent.text
    run_id = str(api.start(intent.json()["intentId"], {"recipeName": "script"})["runId"])
    api.wait_status(run_id, "waiting_input", timeout=60)
    return run_id


def _receipt(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    receipt: dict[str, Any] = json.loads(result.stdout)
    return receipt


def _ledger_rows(api: Api, run_id: str) -> int:
    return api.count(q("SELECT count(*) FROM app.gate_ledger WHERE run_id = '{r}'", r=run_id))


def _one_line_error(result: subprocess.CompletedProcess[str], code: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {code}"), lines[0]


def test_the_inbox_lists_an_open_gate_and_the_cli_answers_it(api: Api, tmp_path: Path) -> None:
    run_id = _waiting_gated_run(api)

    listed = _gates(api, tmp_path, "--json")
    table = _gates(api, tmp_path)
    answered = _gates(api, tmp_path, "answer", run_id, "go", "approve", "--actor", "cli-ana")

    assert listed.returncode == 0, listed.stderr
    [gate] = json.loads(listed.stdout)
    assert (gate["runId"], gate["key"], gate["status"]) == (run_id, "go", "open")
    assert (gate["question"], gate["goal"]) == ("Run it?", "gated by the cli")
    assert table.returncode == 0, table.stderr
    assert run_id in table.stdout and "Run it?" in table.stdout
    receipt = _receipt(answered)
    assert (receipt["runId"], receipt["key"], receipt["answer"]) == (run_id, "go", "approve")
    assert (receipt["origin"], receipt["actor"], receipt["duplicate"]) == ("cli", "cli-ana", False)
    rows = api.sql(
        q(
            "SELECT answer, actor, origin FROM app.gate_ledger"
            " WHERE run_id = '{r}' AND kind = 'answered'",
            r=run_id,
        )
    )
    assert [(r["actor"], r["origin"]) for r in rows] == [("cli-ana", "cli")]
    api.wait_status(run_id, "succeeded", timeout=60)
    after = _gates(api, tmp_path)
    assert (after.returncode, after.stdout.strip()) == (0, "No open gates."), after.stderr
    assert (
        json.loads(_gates(api, tmp_path, "list", "--status", "answered", "--json").stdout)[0][
            "actor"
        ]
        == "cli-ana"
    )


def test_without_actor_the_os_user_answers(api: Api, tmp_path: Path) -> None:
    run_id = _waiting_gated_run(api)

    # --db names the database: the shell's settings point nowhere.
    answered = run_cli(
        tmp_path / "shell",
        "gates",
        "answer",
        run_id,
        "go",
        "approve",
        "--db",
        api.settings.resolved_database_url,
        JEJAKEKAL_HOME=str(tmp_path / "elsewhere"),
    )

    receipt = _receipt(answered)
    assert (receipt["actor"], receipt["origin"]) == (getpass.getuser(), "cli")
    api.wait_status(run_id, "succeeded", timeout=60)


def test_an_invalid_answer_is_one_line_and_writes_nothing(api: Api, tmp_path: Path) -> None:
    run_id = _waiting_gated_run(api)
    before = _ledger_rows(api, run_id)

    maybe = _gates(api, tmp_path, "answer", run_id, "go", "maybe")
    bad_json = _gates(api, tmp_path, "answer", run_id, "go", "{approve", "--json")
    unknown = _gates(api, tmp_path, "answer", "run-nope", "go", "approve")

    _one_line_error(maybe, "invalid_answer")
    assert "approve, reject" in maybe.stderr
    _one_line_error(bad_json, "ANSWER is not valid JSON")
    _one_line_error(unknown, "run_not_found")
    assert _ledger_rows(api, run_id) == before == 1  # the `opened` row only
    assert api.wait_status(run_id, "waiting_input")["gates"][0]["status"] == "open"


def test_a_repeat_with_the_same_dedupe_key_is_a_duplicate(api: Api, tmp_path: Path) -> None:
    run_id = _waiting_gated_run(api)
    answer = ("answer", run_id, "go", "approve", "--actor", "bo", "--dedupe-key", "k-1")

    first = _receipt(_gates(api, tmp_path, *answer))
    written = _ledger_rows(api, run_id)
    again = _receipt(_gates(api, tmp_path, *answer))
    other = _gates(api, tmp_path, "answer", run_id, "go", "reject", "--dedupe-key", "k-1")

    assert first["duplicate"] is False and again["duplicate"] is True
    assert again["answeredAt"] == first["answeredAt"]
    _one_line_error(other, "dedupe_key_reused")
    assert _ledger_rows(api, run_id) == written
    api.wait_status(run_id, "succeeded", timeout=60)
