"""Gates as values: their schemas, the answers each takes, where a bad one is named, the
plan-approval gate, and gates a model proposes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jejakekal.adapters.planner_openai import OpenAIPlanner
from jejakekal.domain import errors
from jejakekal.domain.compiler import build_plan, reply_from_json, reply_json
from jejakekal.domain.errors import PlanInvalid
from jejakekal.domain.gates import (
    INPUT_GATE,
    Gate,
    Origin,
    check_answer,
    ops,
    parse_actor,
    parse_gates,
    parse_key,
    parse_origin,
    rejects,
)
from jejakekal.domain.plan import Plan
from jejakekal.domain.ports import NodeDraft, PlannerReply, PlanRequest
from openai_loopback import ScriptedModel, answer

CHOICE = Gate(key="go", question="Deploy?")
TEXT = Gate.model_validate(
    {"key": "why", "question": "Why?", "answer": {"type": "text", "max_length": 5}}
)
SHAPED = Gate.model_validate(
    {
        "key": "cfg",
        "question": "Settings?",
        "answer": {
            "type": "json",
            "schema": {
                "type": "object",
                "required": ["n"],
                "properties": {"n": {"type": "integer"}},
            },
        },
    }
)


@pytest.mark.parametrize(
    ("gate", "value"),
    [(CHOICE, "approve"), (CHOICE, "reject"), (TEXT, "fine"), (SHAPED, {"n": 3})],
)
def test_an_answer_that_fits_is_taken(gate: Gate, value: Any) -> None:
    check_answer(gate, value)


@pytest.mark.parametrize(
    ("gate", "value", "says"),
    [
        (CHOICE, "maybe", "must be one of approve, reject"),
        (CHOICE, ["approve"], "must be one of"),
        (TEXT, "too long", "8 characters, at most 5"),
        (TEXT, "   ", "non-blank text"),
        (TEXT, 5, "non-blank text"),
        (SHAPED, {"n": "3"}, "n: '3' is not of type 'integer'"),
        (SHAPED, {}, "'n' is a required property"),
        (SHAPED, {"x": "y" * 70_000}, "larger than"),
    ],
)
def test_an_answer_that_does_not_fit_is_refused_naming_the_gate(
    gate: Gate, value: Any, says: str
) -> None:
    with pytest.raises(errors.InvalidAnswer) as caught:
        check_answer(gate, value)
    assert caught.value.message.startswith(f"gate {gate.key!r}: ")
    assert says in caught.value.message
    assert (caught.value.status, caught.value.fields["gate"]) == (400, gate.key)


def test_only_the_choice_reject_rejects() -> None:
    assert rejects(CHOICE, "reject") and not rejects(CHOICE, "approve")
    assert not rejects(TEXT, "reject")


@pytest.mark.parametrize(
    ("gates", "field"),
    [
        ([{"key": "Go", "question": "q"}], "inputs.gates.0.key"),
        ([{"key": "go", "question": " "}], "inputs.gates.0.question"),
        ([{"key": "go", "question": "q", "timeout_s": 0}], "inputs.gates.0.timeout_s"),
        ([{"key": "go", "question": "q", "colour": "red"}], "inputs.gates.0.colour"),
        ([{"key": "go", "question": "q", "answer": {"type": "choice", "choices": []}}],
         "inputs.gates.0.answer.choice.choices"),
        ([{"key": "go", "question": "q", "answer": {"type": "json", "schema": {"type": 7}}}],
         "inputs.gates.0.answer.json.schema"),
        ([{"key": "go", "question": "q", "timeout_s": 5, "escalate_after_s": 5}],
         "inputs.gates.0"),
        ([{"key": "go", "question": "q", "timeout_s": 5, "on_timeout": {"default": "maybe"}}],
         "inputs.gates.0.on_timeout.default"),
        ([{"key": "go", "question": "q"}, {"key": "go", "question": "r"}], "inputs.gates"),
        ([{"key": "plan", "question": "q"}], "inputs.gates"),
        ([{"key": f"g{i}", "question": "q"} for i in range(9)], "inputs.gates"),
        ({"key": "go"}, "inputs.gates"),
    ],
)  # fmt: skip
def test_a_bad_gate_is_refused_naming_its_field(gates: Any, field: str) -> None:
    with pytest.raises(errors.InvalidRunRequest) as caught:
        parse_gates(gates, "inputs.gates")
    assert caught.value.fields["field"] == field, caught.value.message
    assert caught.value.message.startswith(field)


def test_a_gate_reads_back_from_its_spec_unchanged() -> None:
    gate = Gate.model_validate(
        {"key": "go", "question": "q", "timeout_s": 3, "escalate_after_s": 1,
         "on_timeout": {"default": "approve"}}
    )  # fmt: skip
    assert Gate.model_validate(gate.spec()) == gate
    assert gate.spec()["on_timeout"] == {"default": "approve"}
    assert SHAPED.spec()["answer"]["schema"]["required"] == ["n"]


def test_the_input_gate_keeps_release_2s_operations_and_topic() -> None:
    plan_gate = Gate(key=INPUT_GATE, question="q")
    assert ops(plan_gate, 1) == ("AwaitInput", "InputReceived")
    assert plan_gate.topic == "input"
    assert ops(CHOICE, 1) == ("AwaitInput:go", "InputReceived:go")
    assert ops(CHOICE, 2) == ("AwaitInput:go#2", "InputReceived:go#2")
    assert CHOICE.topic == "gate:go"


def test_actors_origins_and_keys_are_checked() -> None:
    assert parse_actor("  ana ") == "ana"
    for bad in ("", "a" * 101, "an\na"):
        with pytest.raises(errors.InvalidActor):
            parse_actor(bad)
    assert parse_origin(None) == Origin.API and parse_origin("cli") == Origin.CLI
    with pytest.raises(errors.InvalidActor):
        parse_origin("system")  # only the kernel answers as the system
    with pytest.raises(errors.InvalidAnswer):
        parse_key("Go")


def _reply(gates: tuple[Gate, ...] = ()) -> PlannerReply:
    return PlannerReply(
        nodes=(NodeDraft(argv=["/bin/sh", "-c", "echo hi"]), NodeDraft(argv=["ls", "-l"])),
        compiler="script/1",
        gates=gates,
    )


def test_plan_approval_comes_first_and_lists_every_command() -> None:
    plan = build_plan("g", {}, "script-approval", _reply((CHOICE,)), concurrency=1, iteration=1,
                      approval=True)  # fmt: skip
    assert [g.key for g in plan.asks] == ["plan", "go"]
    assert plan.asks[0].question == "Approve the plan? 2 node(s): /bin/sh -c 'echo hi'; ls -l"
    # The checkpoint reads back into the same plan, and its hash covers the gates.
    assert Plan.model_validate(plan.checkpoint()) == plan
    without = build_plan("g", {}, "script", _reply(), concurrency=1, iteration=1)
    assert without.gates is None and without.asks == []
    assert without.plan_sha256 != plan.plan_sha256


def test_a_reply_keeps_its_gates_through_the_ledger() -> None:
    reply = _reply((CHOICE, SHAPED))
    assert reply_from_json(json.loads(json.dumps(reply_json(reply)))).gates == (CHOICE, SHAPED)


WAVE = {
    "done": False,
    "answer": None,
    "nodes": [{"purpose": "p", "command": "ls", "argv": None, "expected_outputs": []}],
}
REQUEST = PlanRequest(run_id="run-1", goal="g", inputs={}, recipe_name="openai", iteration=1)


def test_a_model_may_propose_gates(model: ScriptedModel) -> None:
    proposed = [
        {"key": "go", "question": "Run ls?", "choices": ["approve", "reject"], "timeout_s": 60,
         "on_timeout": "reject"},
        {"key": "note", "question": "Anything to add?", "choices": None, "timeout_s": None,
         "on_timeout": None},
    ]  # fmt: skip
    model.script(answer({**WAVE, "gates": proposed}))
    reply = OpenAIPlanner(model.url, "m", None, timeout=10.0).plan(REQUEST)
    assert [g.key for g in reply.gates] == ["go", "note"]
    assert reply.gates[0].timeout_s == 60 and reply.gates[0].on_timeout == "reject"
    assert reply.gates[1].answer.type == "text"


def test_a_model_s_invalid_gate_is_plan_invalid(model: ScriptedModel) -> None:
    bad = {"key": "Go!", "question": "q", "choices": None, "timeout_s": None, "on_timeout": None}
    model.script(answer({**WAVE, "gates": [bad]}))
    with pytest.raises(PlanInvalid, match=r"gates\.0\.key"):
        OpenAIPlanner(model.url, "m", None, timeout=10.0).plan(REQUEST)
