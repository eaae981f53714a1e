"""Issue 25: the audit of operator actions, fork from a step, batch operations. On
SQLite and PostgreSQL, SQL the oracle."""

from __future__ import annotations

import io
import json
import time
import zipfile
from typing import Any

import httpx
import pytest

from conftest import Api, q
from jejakekal.control import operations
from jejakekal.storage import audit

ROWS = "SELECT COUNT(*) FROM app.operator_actions"


def _rows(api: Api, run_id: str) -> list[dict[str, Any]]:
    return api.sql(
        q(
            "SELECT action, actor, origin, reason, request_id, batch_id, status_before,"
            " status_after FROM app.operator_actions WHERE run_id = '{run}' ORDER BY at, id",
            run=run_id,
        )
    )


def _doc(api: Api, source: str = "audit me", sleep_ms: int = 0) -> str:
    reply = api.client.post("/runs", json={"source": source, "sleepMs": sleep_ms})
    assert reply.status_code == 202, reply.text
    return str(reply.json()["run_id"])


def _wait_op(api: Api, run_id: str, name: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ops = api.client.get(f"/runs/{run_id}").json()["timeline"]
        if any(op["function_name"] == name for op in ops):
            return
        time.sleep(0.05)
    raise AssertionError(f"{run_id} never recorded {name}")


def _failed_intent(api: Api) -> str:
    run_id = str(api.start(api.create_intent("fail me"))["runId"])
    api.wait_status(run_id, "retries_exceeded")
    return run_id


def _error(reply: Any, status: int, code: str) -> None:
    assert reply.status_code == status, reply.text
    assert reply.json()["code"] == code, reply.text


# -- the audit ---------------------------------------------------------------------------


def test_cancel_and_resume_each_write_one_row_naming_who_why_and_the_statuses(api: Api) -> None:
    run_id = _doc(api, sleep_ms=1500)
    _wait_op(api, run_id, "DBOS.sleep")
    headers = {"X-Actor": "ana", "X-Origin": "cli", "X-Request-Id": "req-42"}

    cancel = api.client.post(
        f"/runs/{run_id}/cancel", json={"reason": "wrong file"}, headers=headers
    )
    api.wait_status(run_id, "unknown")
    resume = api.client.post(f"/runs/{run_id}/resume")
    view = api.wait_status(run_id, "done")

    assert (cancel.status_code, resume.status_code) == (202, 202)
    rows = _rows(api, run_id)
    assert [r["action"] for r in rows] == ["cancel", "resume"]
    assert rows[0] == {
        "action": "cancel",
        "actor": "ana",
        "origin": "cli",
        "reason": "wrong file",
        "request_id": "req-42",
        "batch_id": None,
        "status_before": "running",
        "status_after": "unknown",
    }
    assert (rows[1]["actor"], rows[1]["origin"], rows[1]["reason"]) == ("anonymous", "api", None)
    assert rows[1]["request_id"].startswith("req-")
    assert [(a["action"], a["actor"]) for a in view["actions"]] == [
        ("cancel", "ana"),
        ("resume", "anonymous"),
    ]


def test_retry_and_a_gate_answer_are_audited(api: Api) -> None:
    failed = _failed_intent(api)
    asking = str(api.start(api.create_intent("ask user"))["runId"])
    api.wait_status(asking, "waiting_input")

    retry = api.client.post(f"/runs/{failed}/retry", json={"reason": "flaky host"})
    answer = api.client.post(
        f"/runs/{asking}/events",
        json={"type": "input", "payload": {"answer": "yes"}},
        headers={"X-Actor": "bo"},
    )

    assert (retry.status_code, answer.status_code) == (202, 202), (retry.text, answer.text)
    [retried] = _rows(api, failed)
    assert (retried["action"], retried["reason"]) == ("retry", "flaky host")
    assert (retried["status_before"], retried["status_after"]) == ("retries_exceeded", "queued")
    [answered] = _rows(api, asking)
    assert (answered["action"], answered["actor"]) == ("answer", "bo")
    assert (answered["status_before"], answered["status_after"]) == ("waiting_input", "running")


def test_a_refused_action_or_a_bad_reason_writes_no_row(api: Api) -> None:
    run_id = _doc(api)
    api.wait_status(run_id, "done")

    refused = api.client.post(f"/runs/{run_id}/resume", json={"reason": "try"})
    too_long = api.client.post(f"/runs/{run_id}/cancel", json={"reason": "x" * 501})
    not_text = api.client.post(f"/runs/{run_id}/cancel", json={"reason": 7})
    extra = api.client.post(f"/runs/{run_id}/cancel", json={"reason": "a", "force": True})

    _error(refused, 409, "run_not_resumable")
    for reply in (too_long, not_text, extra):
        _error(reply, 400, "invalid_reason")
    assert api.count(ROWS) == 0


def test_the_row_commits_with_the_action_and_not_without_it(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = _failed_intent(api)
    before = api.client.get(f"/runs/{run_id}").json()

    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("the audit table is unwritable")

    # The change cannot apply (a concurrent retry won): no row either.
    with monkeypatch.context() as patch:
        patch.setattr(operations.runs, "change_run", lambda *a, **k: False)
        raced = api.client.post(f"/runs/{run_id}/retry")
    # The row cannot be written: the retry's own change rolls back with it.
    with monkeypatch.context() as patch:
        patch.setattr(audit, "record", broken)
        # The server answers 500 and drops the connection: ask on a new one.
        failed = httpx.post(f"{api.base_url}/runs/{run_id}/retry")
    after = api.client.get(f"/runs/{run_id}").json()

    assert failed.status_code == 500
    _error(raced, 409, "run_not_retryable")
    assert (after["status"], after["retryCount"]) == (before["status"], before["retryCount"])
    assert api.count(ROWS) == 0


# -- fork --------------------------------------------------------------------------------


def _attempts(api: Api, run_id: str) -> dict[str, tuple[int, str]]:
    attempt = "json_extract(output, '$.attempt')" if api.is_sqlite else "(output->>'attempt')::int"
    rows = api.sql(
        q(
            "SELECT step_id, " + attempt + " AS attempt, started_at FROM app.run_steps"
            " WHERE run_id = '{run}'",
            run=run_id,
        )
    )
    return {r["step_id"]: (r["attempt"], str(r["started_at"])) for r in rows}


def _ops(api: Api, workflow_id: str) -> dict[str, int]:
    # A fork's workflow id is `fork/<run id>`, outside the id grammar `q` guards.
    assert all(c.isalnum() or c in "-/:" for c in workflow_id), workflow_id
    rows = api.sql(
        "SELECT function_name, COUNT(*) AS n FROM dbos.operation_outputs"
        f" WHERE workflow_uuid = '{workflow_id}' GROUP BY function_name"
    )
    return {r["function_name"]: int(r["n"]) for r in rows}


def test_a_document_run_forks_from_a_step_reusing_the_steps_before_it(api: Api) -> None:
    parent = _doc(api, "fork me, please")
    api.wait_status(parent, "done")

    reply = api.client.post(
        f"/runs/{parent}/fork",
        json={"fromStep": "side-effect", "reason": "rebuild the memo"},
        headers={"X-Actor": "ana"},
    )
    assert reply.status_code == 202, reply.text
    child = reply.json()["runId"]
    view = api.wait_status(child, "done")
    parent_view = api.client.get(f"/runs/{parent}").json()

    assert reply.json()["parentRunId"] == parent and reply.json()["fromStep"] == "side-effect"
    assert (view["parentRunId"], view["forkStep"]) == (parent, "side-effect")
    assert parent_view["forks"] == [child]
    # `prepare` was copied, not run again: the same row, attempt 1, the parent's start time.
    assert _attempts(api, child)["prepare"] == _attempts(api, parent)["prepare"]
    assert _ops(api, view["workflowId"]) == _ops(api, parent)
    artifacts = api.count(q("SELECT COUNT(*) FROM app.artifacts WHERE run_id = '{r}'", r=child))
    assert artifacts == 4
    [row] = _rows(api, parent)
    assert (row["action"], row["actor"], row["reason"]) == ("fork", "ana", "rebuild the memo")
    assert (
        api.count(q("SELECT COUNT(*) FROM app.operator_actions WHERE run_id = '{r}'", r=child)) == 0
    )


def test_an_intent_run_forks_from_decide_with_compile_and_apply_reused(api: Api) -> None:
    parent = str(api.start(api.create_intent("demo chain"))["runId"])
    api.wait_status(parent, "succeeded")

    reply = api.client.post(f"/runs/{parent}/fork", json={"fromStep": "DecideST"})
    assert reply.status_code == 202, reply.text
    child = reply.json()["runId"]
    api.wait_status(child, "succeeded")

    parents, childs = _attempts(api, parent), _attempts(api, child)
    assert childs["CompileST"] == parents["CompileST"]
    assert childs["ApplyPatchST"] == parents["ApplyPatchST"]
    assert childs["DecideST"][0] == 1 and childs["DecideST"][1] != parents["DecideST"][1]
    decided = q("SELECT COUNT(*) FROM app.opencode_calls WHERE run_id = '{r}'", r=child)
    assert api.count(decided) == 1


def test_a_fork_from_no_such_step_or_of_a_live_run_writes_nothing(api: Api) -> None:
    done = _doc(api)
    api.wait_status(done, "done")
    live = _doc(api, "still running", sleep_ms=5000)
    _wait_op(api, live, "DBOS.sleep")
    runs_before = api.count("SELECT COUNT(*) FROM app.runs")

    unknown = api.client.post(f"/runs/{done}/fork", json={"fromStep": "nowhere"})
    final = api.client.post(f"/runs/{done}/fork", json={"fromStep": "finalize"})
    empty = api.client.post(f"/runs/{done}/fork", json={})
    running = api.client.post(f"/runs/{live}/fork", json={"fromStep": "prepare"})
    missing = api.client.post("/runs/no-such-run/fork", json={"fromStep": "prepare"})

    _error(unknown, 400, "invalid_fork")
    assert "side-effect" in unknown.json()["message"]
    _error(final, 400, "invalid_fork")
    _error(empty, 400, "invalid_fork")
    _error(running, 409, "run_not_forkable")
    _error(missing, 404, "run_not_found")
    assert api.count("SELECT COUNT(*) FROM app.runs") == runs_before
    assert api.count(ROWS) == 0
    api.client.post(f"/runs/{live}/cancel")


# -- batch operations --------------------------------------------------------------------


def test_batch_retry_of_fifty_failed_runs_counts_first_then_writes_a_row_each(api: Api) -> None:
    failed = [str(api.start(api.create_intent(f"fail me {i}"))["runId"]) for i in range(50)]
    for run_id in failed:
        api.wait_status(run_id, "retries_exceeded", timeout=120)
    body = {"action": "retry", "filter": {"status": "retries_exceeded", "kind": "intent"}}

    dry = api.client.post("/runs/batch", json={**body, "dryRun": True})
    assert dry.status_code == 200, dry.text
    assert (dry.json()["matched"], dry.json()["done"], api.count(ROWS)) == (50, [], 0)
    capped = api.client.post("/runs/batch", json={**body, "limit": 20, "reason": "host fixed"})
    assert (capped.json()["matched"], len(capped.json()["done"])) == (50, 20)
    assert api.count(ROWS) == 20
    for run_id in capped.json()["done"]:
        _settled_after_retries(api, run_id, 1)
    everything = api.client.post("/runs/batch", json={**body, "limit": 500})

    assert (everything.json()["matched"], len(everything.json()["done"])) == (50, 50)
    assert sorted(everything.json()["done"]) == sorted(failed)
    batches = api.sql("SELECT batch_id, COUNT(*) AS n FROM app.operator_actions GROUP BY batch_id")
    assert sorted(int(b["n"]) for b in batches) == [20, 50]
    assert {b["batch_id"] for b in batches} == {
        capped.json()["batchId"],
        everything.json()["batchId"],
    }
    for run_id in failed:
        _settled_after_retries(api, run_id, 2 if run_id in capped.json()["done"] else 1)


def _settled_after_retries(api: Api, run_id: str, retries: int) -> None:
    deadline = time.monotonic() + 120
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        view = api.client.get(f"/runs/{run_id}").json()
        if (view["status"], view["dbos_status"], view["retryCount"]) == (
            "retries_exceeded",
            "ERROR",
            retries,
        ):
            return
        time.sleep(0.1)
    raise AssertionError(view)


def test_a_batch_needs_a_filter_and_a_known_action_and_writes_nothing_otherwise(api: Api) -> None:
    bad = [
        {"action": "retry", "filter": {}},
        {"action": "delete", "filter": {"status": "failed"}},
        {"action": "retry", "filter": {"status": "exploded"}},
        {"action": "retry", "filter": {"status": "failed"}, "limit": 501},
        {"action": "retry", "filter": {"createdAfter": "yesterday"}},
    ]
    for body in bad:
        _error(api.client.post("/runs/batch", json=body), 400, "invalid_batch")
    assert api.count(ROWS) == 0


def test_exports_are_audited_and_the_bundle_carries_the_other_actions(api: Api) -> None:
    run_id = _doc(api, sleep_ms=1500)
    _wait_op(api, run_id, "DBOS.sleep")
    api.client.post(f"/runs/{run_id}/cancel", json={"reason": "pause"})
    api.wait_status(run_id, "unknown")
    api.client.post(f"/runs/{run_id}/resume")
    api.wait_status(run_id, "done")

    first = api.client.get(f"/runs/{run_id}/bundle.zip", headers={"X-Actor": "auditor"})
    folder = api.client.get(f"/runs/{run_id}/export", params={"reason": "for the audit"})
    second = api.client.get(f"/runs/{run_id}/bundle.zip")
    bad = api.client.get(f"/runs/{run_id}/bundle.zip", params={"reason": "x" * 501})

    assert (first.status_code, folder.status_code, second.status_code) == (200, 200, 200)
    assert first.content == second.content
    _error(bad, 400, "invalid_reason")
    rows = _rows(api, run_id)
    assert [r["action"] for r in rows] == ["cancel", "resume", "export", "export", "export"]
    assert (rows[2]["actor"], rows[3]["reason"]) == ("auditor", "for the audit")
    with zipfile.ZipFile(io.BytesIO(first.content)) as bundle:
        tool_io = json.loads(
            next(bundle.read(n) for n in bundle.namelist() if n.endswith("tool-io.json"))
        )
    assert [(a["action"], a["reason"]) for a in tool_io["audit"]] == [
        ("cancel", "pause"),
        ("resume", None),
    ]


def test_a_run_a_gate_rejected_is_forked_from_its_decision_to_ask_again(api: Api) -> None:
    body = {
        "goal": "gated",
        "inputs": {"commands": ["echo ok"], "gates": [{"key": "go", "question": "Go?"}]},
        "constraints": {},
    }
    intent = api.client.post("/intents", json=body).json()["intentId"]
    run_id = str(api.start(intent, {"recipeName": "script"})["runId"])
    api.wait_status(run_id, "waiting_input", timeout=60)
    rejected = api.client.post(f"/runs/{run_id}/gates/go", json={"answer": "reject"})
    failed = api.wait_status(run_id, "failed", timeout=60)

    retry = api.client.post(f"/runs/{run_id}/retry")
    fork = api.client.post(f"/runs/{run_id}/fork", json={"fromStep": "DecideST"})
    asked = api.wait_status(fork.json()["runId"], "waiting_input", timeout=60)
    again = api.client.post(f"/runs/{fork.json()['runId']}/gates/go", json={"answer": "approve"})
    done = api.wait_status(fork.json()["runId"], "succeeded", "failed", timeout=60)

    assert rejected.status_code == 202, rejected.text
    assert failed["dbos_status"] == "SUCCESS"
    assert failed["nextAction"] == f'POST /runs/{run_id}/fork {{"fromStep":"DecideST"}}'
    _error(retry, 409, "run_not_retryable")
    assert retry.json()["message"] == (
        "run is failed; its workflow finished (a gate ended it): fork it from its decision instead"
    )
    assert fork.status_code == 202, fork.text
    assert [g["key"] for g in asked["gates"] if g["status"] == "open"] == ["go"]
    assert again.status_code == 202, again.text
    assert done["status"] == "succeeded"
    assert [r["action"] for r in _rows(api, run_id)] == ["answer", "fork"]
