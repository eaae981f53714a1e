"""The agent loop and the `openai` planner against a scripted OpenAI-compatible server on
loopback [ADP-PLAN]: plan, run, observe, plan again, answer; invalid answers, transient
failures and an endpoint that never recovers. Both backends; SQL the oracle."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conftest import Api, served_api
from jejakekal.config import Settings
from openai_loopback import ScriptedModel, answer, content, status, tool_call


@pytest.fixture
def loop_api(settings: Settings, model: ScriptedModel) -> Iterator[Api]:
    with served_api(settings.with_overrides(openai_base_url=model.url)) as served:
        yield served


def _start(api: Api, recipe: str, goal: str = "add two numbers") -> str:
    reply = api.client.post("/intents", json={"goal": goal, "inputs": {}, "constraints": {}})
    assert reply.status_code == 201, reply.text
    return str(api.start(reply.json()["intentId"], {"recipeName": recipe})["runId"])


def _steps(view: dict[str, Any]) -> list[str]:
    return [s["stepId"] for s in view["steps"]]


def _wave(*commands: str) -> dict[str, Any]:
    return {
        "done": False,
        "answer": None,
        "nodes": [{"purpose": f"run {c}", "command": c, "expected_outputs": []} for c in commands],
    }


def test_two_waves_then_done_make_an_answer(loop_api: Api, model: ScriptedModel) -> None:
    model.script(
        answer(_wave("echo 3")),
        tool_call(_wave("echo 4", "echo 5")),
        answer({"done": True, "answer": "3 + 4 = 7", "nodes": []}),
    )
    run_id = _start(loop_api, "agent")
    view = loop_api.wait_status(run_id, "succeeded", timeout=90)
    assert _steps(view) == [
        "CompileST", "ApplyPatchST", "DecideST", "ExecuteST", "ObserveST",
        "CompileST#2", "ApplyPatchST#2", "DecideST#2", "ExecuteST#2", "ObserveST#2",
        "CompileST#3", "AnswerST",
    ]  # fmt: skip
    assert view["lastStep"] == "AnswerST"
    got = loop_api.client.get(f"/artifacts/{run_id}:answer").json()
    assert got["content"] == "3 + 4 = 7"
    # The planner saw the first wave's output when it planned the second.
    assert model.calls == 3
    second = str(model.requests[1])
    assert "exec-1" in second and "3" in second
    # Each call recorded once; each node ran once and kept its stdout.
    assert (
        loop_api.count(
            "SELECT COUNT(*) FROM app.opencode_calls"
            f" WHERE run_id = '{run_id}' AND id LIKE '%:plan:%'"
        )
        == 3
    )
    stdouts = loop_api.sql(
        f"SELECT id FROM app.artifacts WHERE run_id = '{run_id}' AND type = 'stdout' ORDER BY id"
    )
    assert [r["id"].split(":", 1)[1] for r in stdouts] == [
        "exec-1:a1:stdout", "exec-2.1:a1:stdout", "exec-2.2:a1:stdout",
    ]  # fmt: skip


def test_an_invalid_plan_fails_compile_and_keeps_the_raw_reply(
    loop_api: Api, model: ScriptedModel
) -> None:
    model.script(content("this is not json {"))
    run_id = _start(loop_api, "openai")
    view = loop_api.wait_status(run_id, "failed", timeout=60)
    assert view["error"].startswith("CompileST: the planner's answer is not a valid plan"), view
    assert "DBOS" not in view["error"]
    rows = loop_api.sql(f"SELECT response FROM app.opencode_calls WHERE run_id = '{run_id}'")
    assert len(rows) == 1 and "this is not json {" in str(rows[0]["response"])
    assert loop_api.count(f"SELECT COUNT(*) FROM app.artifacts WHERE run_id = '{run_id}'") == 0


def test_a_429_is_retried_then_the_plan_runs(loop_api: Api, model: ScriptedModel) -> None:
    model.script(status(429, "slow down"), answer(_wave("echo once")))
    run_id = _start(loop_api, "openai")
    loop_api.wait_status(run_id, "succeeded", timeout=60)
    assert model.calls == 2


def test_an_endpoint_that_keeps_failing_fails_the_run_readably(
    loop_api: Api, model: ScriptedModel
) -> None:
    model.reset(default=status(500, "boom"))
    run_id = _start(loop_api, "openai")
    view = loop_api.wait_status(run_id, "failed", timeout=60)
    assert view["error"].startswith("CompileST: the model endpoint failed 3 times"), view
    assert model.calls == 3


@pytest.fixture
def deciding_api(settings: Settings, model: ScriptedModel) -> Iterator[Api]:
    """The endpoint both plans and decides."""
    wired = settings.with_overrides(openai_base_url=model.url, decider="openai")
    with served_api(wired) as served:
        yield served


def test_the_decider_retries_a_429_and_then_executes(
    deciding_api: Api, model: ScriptedModel
) -> None:
    model.script(
        answer(_wave("echo decided")),
        status(429, "slow down"),
        answer({"action": "execute", "reason": "looks fine"}),
    )
    run_id = _start(deciding_api, "openai")
    deciding_api.wait_status(run_id, "succeeded", timeout=60)
    assert model.calls == 3
    decisions = deciding_api.sql(
        f"SELECT id FROM app.opencode_calls WHERE run_id = '{run_id}' AND step_id = 'DecideST'"
    )
    assert [d["id"] for d in decisions] == [f"{run_id}:DecideST"]


def test_a_refused_decider_call_fails_decide_at_once(
    deciding_api: Api, model: ScriptedModel
) -> None:
    model.script(answer(_wave("echo never")), status(401, "bad key"))
    run_id = _start(deciding_api, "openai")
    view = deciding_api.wait_status(run_id, "failed", timeout=60)
    assert view["error"].startswith("DecideST: "), view
    assert "DBOS" not in view["error"]
    assert model.calls == 2  # not retried
    assert deciding_api.count(f"SELECT COUNT(*) FROM app.artifacts WHERE run_id = '{run_id}'") == 0
