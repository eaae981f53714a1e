"""Deciders: the stub is deterministic; the OpenAI-compatible client validates replies."""

from __future__ import annotations

import json

import pytest

from jejakekal.adapters.decider import OpenAIDecider, StubDecider
from jejakekal.domain.errors import DecisionInvalid, ModelUnavailable
from jejakekal.domain.ports import DecisionRequest
from openai_loopback import ScriptedModel, answer, content, scripted_model, status, tool_call

REQUEST = DecisionRequest(run_id="run-1", goal="demo", plan_sha256="ab" * 32, nodes=["exec-1"])


def test_stub_decides_the_same_way_every_time() -> None:
    first = StubDecider().decide(REQUEST)
    second = StubDecider().decide(REQUEST)
    assert first == second
    assert first.response["action"] == "execute"


def test_stub_rejects_goals_that_ask_for_it() -> None:
    request = DecisionRequest("run-1", "please reject", "cd" * 32, [])
    assert StubDecider().decide(request).response["action"] == "reject"


def test_stub_reads_reject_as_a_whole_word_only() -> None:
    request = DecisionRequest("run-1", "fix the rejected uploads", "cd" * 32, [])
    assert StubDecider().decide(request).response["action"] == "execute"


def test_openai_client_posts_the_plan_and_returns_a_validated_envelope(
    model: ScriptedModel,
) -> None:
    model.script(answer({"action": "execute", "reason": "looks fine"}))

    envelope = OpenAIDecider(model.url, "test-model", "secret").decide(REQUEST)

    assert envelope.response == {"action": "execute", "reason": "looks fine"}
    assert envelope.provider == "openai:test-model"
    [body] = model.requests
    assert model.authorizations == ["Bearer secret"]
    assert body["model"] == "test-model"
    assert body["response_format"] == {"type": "json_object"}
    sent = json.loads(body["messages"][1]["content"])
    assert (sent["goal"], sent["plan_sha256"]) == ("demo", "ab" * 32)


def test_openai_client_accepts_a_tool_call_answer(model: ScriptedModel) -> None:
    model.script(tool_call({"action": "reject", "reason": "too risky"}))

    envelope = OpenAIDecider(model.url, "test-model", None).decide(REQUEST)

    assert envelope.response == {"action": "reject", "reason": "too risky"}
    assert model.authorizations == [None]


@pytest.mark.parametrize(
    ("reply", "named"),
    [
        ('{"action": "launch", "reason": "x"}', "failed validation"),
        ("not json", "not JSON"),
        ('{"action": "execute"}', "failed validation"),
    ],
)
def test_openai_client_refuses_replies_outside_the_schema(
    model: ScriptedModel, reply: str, named: str
) -> None:
    model.script(content(reply))
    with pytest.raises(DecisionInvalid, match=named):
        OpenAIDecider(model.url, "test-model", None).decide(REQUEST)


@pytest.mark.parametrize("code", [429, 500, 502])
def test_openai_client_reports_429_and_5xx_as_model_unavailable(
    model: ScriptedModel, code: int
) -> None:
    model.script(status(code, "try later"))
    with pytest.raises(ModelUnavailable, match=f"HTTP {code}: try later"):
        OpenAIDecider(model.url, "test-model", None).decide(REQUEST)


def test_openai_client_reports_an_unreachable_endpoint_as_model_unavailable() -> None:
    with scripted_model() as gone:
        url = gone.url
    with pytest.raises(ModelUnavailable, match="unreachable"):
        OpenAIDecider(url, "test-model", None, timeout=5.0).decide(REQUEST)


@pytest.mark.parametrize("code", [400, 401, 404])
def test_openai_client_fails_other_4xx_as_decision_invalid(model: ScriptedModel, code: int) -> None:
    model.script(status(code, "no such model"))
    with pytest.raises(DecisionInvalid, match=f"HTTP {code}: no such model"):
        OpenAIDecider(model.url, "test-model", None).decide(REQUEST)
    assert model.calls == 1


def test_openai_client_refuses_a_body_that_is_not_a_chat_completion(model: ScriptedModel) -> None:
    model.script(status(200, '{"choices": []}'))
    with pytest.raises(DecisionInvalid, match="not a chat completion"):
        OpenAIDecider(model.url, "test-model", None).decide(REQUEST)
