"""The openai planner against a scripted loopback endpoint: what it sends, what it accepts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jejakekal.adapters.planner_openai import OpenAIPlanner
from jejakekal.domain.errors import JejakekalError, ModelUnavailable, PlanInvalid
from jejakekal.domain.ports import Observation, PlanRequest
from openai_loopback import ScriptedModel, answer, content, scripted_model, status, tool_call

SEEN = Observation(
    node_id="exec-1",
    argv=["/bin/sh", "-c", "wc -l data.csv"],
    exit_code=0,
    fault=None,
    stdout_tail="41 data.csv\n",
    stdout_sha256="ab" * 32,
    stderr_tail="",
    stderr_sha256="cd" * 32,
    out_files={"out/count.txt": "ef" * 32},
)
REQUEST = PlanRequest(
    run_id="run-1",
    goal="count the rows of data.csv",
    inputs={"files": {"data.csv": "a,b\n1,2\n"}},
    recipe_name="openai",
    iteration=2,
    observations=(SEEN,),
)
WAVE = {
    "done": False,
    "answer": None,
    "nodes": [
        {
            "purpose": "count rows",
            "command": "wc -l data.csv > out/rows.txt",
            "argv": None,
            "expected_outputs": ["out/rows.txt"],
        },
        {"purpose": "list", "command": None, "argv": ["ls", "-l"], "expected_outputs": []},
    ],
}


def _planner(url: str, key: str | None = "secret") -> OpenAIPlanner:
    return OpenAIPlanner(url, "test-model", key, timeout=10.0)


def _sent(body: dict[str, Any]) -> dict[str, Any]:
    asked: dict[str, Any] = json.loads(body["messages"][1]["content"])
    return asked


def test_a_json_schema_answer_becomes_a_wave_of_nodes(model: ScriptedModel) -> None:
    model.script(answer(WAVE))
    reply = _planner(model.url).plan(REQUEST)

    assert [node.argv for node in reply.nodes] == [
        ["/bin/sh", "-c", "wc -l data.csv > out/rows.txt"],
        ["ls", "-l"],
    ]
    assert reply.nodes[0].purpose == "count rows"
    assert reply.nodes[0].expected_outputs == ("out/rows.txt",)
    assert (reply.done, reply.answer) == (False, None)
    assert reply.compiler == "openai/1:test-model"
    assert reply.call is not None
    assert reply.call.provider == "openai:test-model"
    assert json.loads(reply.call.raw_reply) == WAVE


def test_the_request_carries_goal_inputs_iteration_and_observations(model: ScriptedModel) -> None:
    model.script(answer(WAVE))
    reply = _planner(model.url).plan(REQUEST)

    [body] = model.requests
    asked = _sent(body)
    assert asked["goal"] == "count the rows of data.csv"
    assert asked["inputs"] == {"files": {"data.csv": "a,b\n1,2\n"}}
    assert asked["iteration"] == 2
    assert asked["observations"][0]["stdout_tail"] == "41 data.csv\n"
    assert asked["observations"][0]["out_files"] == {"out/count.txt": "ef" * 32}
    assert body["response_format"]["json_schema"]["strict"] is True
    assert model.authorizations == ["Bearer secret"]
    assert reply.call is not None
    assert reply.call.request == body
    assert "secret" not in json.dumps(reply.call.request)


def test_a_tool_call_answer_is_accepted(model: ScriptedModel) -> None:
    model.script(tool_call(WAVE))
    reply = _planner(model.url, key=None).plan(REQUEST)

    assert len(reply.nodes) == 2
    assert model.authorizations == [None]


def test_a_done_answer_carries_the_answer_and_no_nodes(model: ScriptedModel) -> None:
    done = {"done": True, "answer": "data.csv has 1 row", "nodes": []}
    model.script(answer(done))
    reply = _planner(model.url).plan(REQUEST)

    assert (reply.done, reply.answer, reply.nodes) == (True, "data.csv has 1 row", ())


def test_malformed_json_is_plan_invalid_with_the_raw_reply(model: ScriptedModel) -> None:
    model.script(content('{"done": false, "nodes": ['))
    with pytest.raises(PlanInvalid, match="not JSON") as caught:
        _planner(model.url).plan(REQUEST)

    assert caught.value.raw_reply == '{"done": false, "nodes": ['


@pytest.mark.parametrize(
    ("plan", "named"),
    [
        (
            {"done": False, "nodes": [{"purpose": "x", "command": "ls", "argv": ["ls"]}]},
            "exactly one of `command` or `argv`",
        ),
        ({"done": False, "nodes": [{"purpose": "x", "command": "  "}]}, "blank"),
        ({"done": False, "nodes": [{"command": "x" * (8 * 1024 + 1)}]}, "longer than 8192"),
        ({"done": False, "nodes": [{"argv": ["ls", ""]}]}, "empty string"),
        ({"done": False, "nodes": []}, "1 to 32 nodes"),
        ({"done": False, "nodes": [{"command": "true"}] * 33}, "1 to 32 nodes"),
        ({"done": True, "answer": " ", "nodes": []}, "`answer` is empty"),
        ({"done": True, "answer": "ok", "nodes": [{"command": "ls"}]}, "`nodes` is not empty"),
        ({"done": "no", "nodes": []}, "done"),
        ({"done": False, "nodes": [{"command": "ls", "shell": True}]}, "shell"),
        (["ls"], "valid dictionary"),
    ],
)
def test_an_answer_outside_the_schema_is_plan_invalid(
    model: ScriptedModel, plan: Any, named: str
) -> None:
    model.script(answer(plan))
    with pytest.raises(PlanInvalid, match="not a valid plan") as caught:
        _planner(model.url).plan(REQUEST)

    assert named in caught.value.message
    assert json.loads(caught.value.raw_reply) == plan


@pytest.mark.parametrize("code", [429, 500, 503])
def test_429_and_5xx_are_model_unavailable(model: ScriptedModel, code: int) -> None:
    model.script(status(code, "slow down"))
    with pytest.raises(ModelUnavailable, match=f"HTTP {code}: slow down"):
        _planner(model.url).plan(REQUEST)


def test_an_unreachable_endpoint_is_model_unavailable() -> None:
    with scripted_model() as model:
        url = model.url
    with pytest.raises(ModelUnavailable, match="unreachable"):
        _planner(url).plan(REQUEST)


def test_a_slow_endpoint_times_out_as_model_unavailable(model: ScriptedModel) -> None:
    model.script(answer(WAVE, delay=1.0))
    with pytest.raises(ModelUnavailable, match="unreachable"):
        OpenAIPlanner(model.url, "test-model", None, timeout=0.2).plan(REQUEST)


def test_401_fails_at_once_and_is_not_model_unavailable(model: ScriptedModel) -> None:
    model.script(status(401, "bad key"))
    with pytest.raises(JejakekalError) as caught:
        _planner(model.url).plan(REQUEST)

    assert not isinstance(caught.value, ModelUnavailable)
    assert isinstance(caught.value, PlanInvalid)
    assert "HTTP 401" in caught.value.message
    assert caught.value.raw_reply == "bad key"
    assert model.calls == 1


def test_a_body_that_is_not_a_chat_completion_is_plan_invalid_with_the_body(
    model: ScriptedModel,
) -> None:
    model.script(status(200, '{"object": "list", "data": []}'))
    with pytest.raises(PlanInvalid, match="not a chat completion") as caught:
        _planner(model.url).plan(REQUEST)

    assert caught.value.raw_reply == '{"object": "list", "data": []}'


def test_the_script_is_served_in_order_then_the_default(model: ScriptedModel) -> None:
    model.script(status(429), answer(WAVE))
    with pytest.raises(ModelUnavailable):
        _planner(model.url).plan(REQUEST)
    assert len(_planner(model.url).plan(REQUEST).nodes) == 2
    with pytest.raises(ModelUnavailable, match="HTTP 500"):
        _planner(model.url).plan(REQUEST)

    assert model.calls == 3
