"""Human gates, the core paths: declared in a script, answered through the API with an
actor and an origin, timed out with each `on_timeout`, and plan approval. SQL is the
oracle, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from conftest import Api


def _gate_run(api: Api, gates: list[dict[str, Any]], recipe: str = "script") -> str:
    body = {"goal": "gated", "inputs": {"commands": ["echo ok"], "gates": gates}, "constraints": {}}
    intent = api.client.post("/intents", json=body)
    assert intent.status_code == 201, intent.text
    return str(api.start(intent.json()["intentId"], {"recipeName": recipe})["runId"])


def _ledger(api: Api, run_id: str) -> list[tuple[str, str, Any, Any]]:
    rows = api.sql(
        "SELECT gate_key, kind, actor, origin FROM app.gate_ledger"
        f" WHERE run_id = '{run_id}' ORDER BY at, id"
    )
    return [(r["gate_key"], r["kind"], r["actor"], r["origin"]) for r in rows]


def test_a_declared_gate_is_answered_with_its_actor_and_origin(api: Api) -> None:
    run_id = _gate_run(api, [{"key": "go", "question": "Run echo?"}])
    view = api.wait_status(run_id, "waiting_input", timeout=60)
    assert [g["key"] for g in view["gates"]] == ["go"]
    assert view["nextAction"] == f'POST /runs/{run_id}/gates/go {{"answer": ...}}'
    reply = api.client.post(
        f"/runs/{run_id}/gates/go", json={"answer": "approve"}, headers={"X-Actor": "ana"}
    )
    assert reply.status_code == 202, reply.text
    assert reply.json()["actor"] == "ana" and reply.json()["origin"] == "api"
    view = api.wait_status(run_id, "succeeded", timeout=60)
    assert view["gates"][0]["status"] == "answered"
    assert _ledger(api, run_id) == [("go", "opened", None, None), ("go", "answered", "ana", "api")]


def test_a_rejection_ends_the_run_failed_naming_who(api: Api) -> None:
    run_id = _gate_run(api, [{"key": "go", "question": "Run echo?"}])
    api.wait_status(run_id, "waiting_input", timeout=60)
    reply = api.client.post(
        f"/runs/{run_id}/gates/go",
        json={"answer": "reject", "reason": "not today"},
        headers={"X-Actor": "bo"},
    )
    assert reply.status_code == 202, reply.text
    view = api.wait_status(run_id, "failed", timeout=60)
    assert view["error"] == "gate 'go' rejected by bo: not today"


def test_a_timeout_with_a_default_applies_it(api: Api) -> None:
    gate = {"key": "go", "question": "Run?", "timeout_s": 1, "on_timeout": {"default": "approve"}}
    run_id = _gate_run(api, [gate])
    view = api.wait_status(run_id, "succeeded", timeout=60)
    assert view["gates"][0]["answer"] == "approve"
    assert [k for _, k, _, _ in _ledger(api, run_id)] == ["opened", "timed_out", "answered"]


def test_a_timeout_fails_the_run(api: Api) -> None:
    run_id = _gate_run(api, [{"key": "go", "question": "Run?", "timeout_s": 1}])
    view = api.wait_status(run_id, "failed", timeout=60)
    assert view["error"] == "gate 'go' timed out after 1s"


def test_plan_approval_shows_the_plan_and_runs_after_approve(api: Api) -> None:
    run_id = _gate_run(api, [], recipe="script-approval")
    view = api.wait_status(run_id, "waiting_input", timeout=60)
    assert view["gates"][0]["key"] == "plan"
    assert "echo ok" in view["gates"][0]["question"]
    reply = api.client.post(f"/runs/{run_id}/gates/plan", json={"answer": "approve"})
    assert reply.status_code == 202, reply.text
    api.wait_status(run_id, "succeeded", timeout=60)


def test_plan_approval_rejected_ends_the_run_failed_with_the_reason(api: Api) -> None:
    run_id = _gate_run(api, [], recipe="script-approval")
    api.wait_status(run_id, "waiting_input", timeout=60)
    reply = api.client.post(
        f"/runs/{run_id}/gates/plan",
        json={"answer": "reject", "reason": "echo is not allowed"},
        headers={"X-Actor": "cy"},
    )
    assert reply.status_code == 202, reply.text
    view = api.wait_status(run_id, "failed", timeout=60)
    assert view["error"] == "gate 'plan' rejected by cy: echo is not allowed"
    # No node ran: nothing reached the sandbox.
    assert api.count(f"SELECT COUNT(*) FROM app.artifacts WHERE run_id = '{run_id}'") == 0
    assert [s["stepId"] for s in view["steps"]] == ["CompileST", "ApplyPatchST", "DecideST"]
