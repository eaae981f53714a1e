"""[ADP-PLAN] The `openai` planner: an OpenAI-compatible model writes the plan.

The model is sent the goal, the intent's inputs, the iteration and (in the agent loop)
what the earlier waves did, and answers one JSON object: `done` with an answer, or the
next wave of nodes. The answer is validated here, strictly; one that does not validate
raises `PlanInvalid` carrying the model's raw reply, which CompileST records.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from jejakekal.adapters.openai_client import ChatEndpoint
from jejakekal.domain.canonical import canonical_json
from jejakekal.domain.errors import InvalidRunRequest, PlanInvalid
from jejakekal.domain.gates import parse_gates
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.ports import ModelCall, NodeDraft, PlannerReply, PlanRequest

MAX_NODES = 32
MAX_COMMAND_BYTES = 8 * 1024

SYSTEM_PROMPT = (
    "You plan work that runs as shell commands in an empty, throwaway workspace with no "
    "network. The user message is a JSON object: the goal, the inputs, the iteration "
    "(1 for the first plan) and the observations (what the commands of earlier iterations "
    "did: exit codes, the tails of stdout and stderr, the files they wrote under out/). "
    "Answer with one JSON object: "
    '{"done": boolean, "answer": string or null, "nodes": [{"purpose": string, '
    '"command": string or null, "argv": [string, ...] or null, '
    '"expected_outputs": [string, ...]}]}. '
    "If the observations already answer the goal, set done to true, give the answer and no "
    f"nodes. Otherwise set done to false and give 1 to {MAX_NODES} nodes; each has exactly "
    "one of `command` (run by /bin/sh -c) or `argv`, the other null. Files a node should "
    "keep go under out/. To ask a human before the nodes run, add gates: "
    '{"key": lowercase word, "question": string, "choices": [string, ...] or null (null: '
    'free text), "timeout_s": number or null, "on_timeout": "fail" or "reject" or null}; '
    "otherwise gates is an empty list."
)

_GATE_SCHEMA: JsonObject = {
    "type": "object",
    "additionalProperties": False,
    "required": ["key", "question", "choices", "timeout_s", "on_timeout"],
    "properties": {
        "key": {"type": "string"},
        "question": {"type": "string"},
        "choices": {"type": ["array", "null"], "items": {"type": "string"}},
        "timeout_s": {"type": ["number", "null"]},
        "on_timeout": {"type": ["string", "null"], "enum": ["fail", "reject", None]},
    },
}

_NODE_SCHEMA: JsonObject = {
    "type": "object",
    "additionalProperties": False,
    "required": ["purpose", "command", "argv", "expected_outputs"],
    "properties": {
        "purpose": {"type": "string"},
        "command": {"type": ["string", "null"]},
        "argv": {"type": ["array", "null"], "items": {"type": "string"}},
        "expected_outputs": {"type": "array", "items": {"type": "string"}},
    },
}
# Strict mode wants every property required, so "absent" is spelled null.
PLAN_SCHEMA: JsonObject = {
    "type": "object",
    "additionalProperties": False,
    "required": ["done", "answer", "nodes", "gates"],
    "properties": {
        "done": {"type": "boolean"},
        "answer": {"type": ["string", "null"]},
        "nodes": {"type": "array", "items": _NODE_SCHEMA},
        "gates": {"type": "array", "items": _GATE_SCHEMA},
    },
}


class NodeAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    purpose: str = ""
    command: str | None = None
    argv: list[str] | None = None
    expected_outputs: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_way_to_run(self) -> NodeAnswer:
        if (self.command is None) == (self.argv is None):
            raise ValueError("a node needs exactly one of `command` or `argv`")
        if self.command is not None:
            if not self.command.strip():
                raise ValueError("`command` is blank")
            if len(self.command.encode()) > MAX_COMMAND_BYTES:
                raise ValueError(f"`command` is longer than {MAX_COMMAND_BYTES} bytes")
        if self.argv is not None:
            if not self.argv or not self.argv[0].strip():
                raise ValueError("`argv` is empty or starts with a blank program")
            if any(not item for item in self.argv):
                raise ValueError("`argv` holds an empty string")
        return self

    def draft(self) -> NodeDraft:
        argv = ["/bin/sh", "-c", self.command] if self.command is not None else self.argv
        assert argv is not None  # the validator holds it
        return NodeDraft(
            argv=argv, purpose=self.purpose, expected_outputs=tuple(self.expected_outputs)
        )


class GateAnswer(BaseModel):
    """A gate as the model proposes it (strict mode spells "absent" null)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    key: str
    question: str
    choices: list[str] | None = None
    timeout_s: float | int | None = None
    on_timeout: Literal["fail", "reject"] | None = None

    def gate(self) -> JsonObject:
        answer: JsonObject = (
            {"type": "choice", "choices": self.choices}
            if self.choices is not None
            else {"type": "text"}
        )
        gate: JsonObject = {"key": self.key, "question": self.question, "answer": answer}
        if self.timeout_s is not None:
            gate["timeout_s"] = self.timeout_s
        if self.on_timeout is not None:
            gate["on_timeout"] = self.on_timeout
        return gate


class PlanAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    done: bool
    answer: str | None = None
    nodes: list[NodeAnswer] = Field(default_factory=list)
    gates: list[GateAnswer] = Field(default_factory=list)

    @model_validator(mode="after")
    def _done_or_a_wave(self) -> PlanAnswer:
        if self.done:
            if not (self.answer or "").strip():
                raise ValueError("`done` is true but `answer` is empty")
            if self.nodes:
                raise ValueError("`done` is true but `nodes` is not empty")
        elif not 1 <= len(self.nodes) <= MAX_NODES:
            raise ValueError(f"`done` is false, so `nodes` needs 1 to {MAX_NODES} nodes")
        return self


class OpenAIPlanner:
    """Chat completions against any OpenAI-compatible endpoint (JEJAKEKAL_OPENAI_*)."""

    name = "openai"

    def __init__(
        self, base_url: str, model: str, api_key: str | None, timeout: float = 60.0
    ) -> None:
        self._endpoint = ChatEndpoint(base_url, model, api_key, timeout)

    def plan(self, request: PlanRequest) -> PlannerReply:
        payload = self.payload(request)
        raw = self._endpoint.complete(payload, _invalid)
        answer = parse_plan(raw)
        model = self._endpoint.model
        try:
            gates = parse_gates([g.gate() for g in answer.gates], "gates")
        except InvalidRunRequest as exc:
            message = f"planner answer is not a valid plan: {exc.message}"
            raise PlanInvalid(message, raw_reply=raw) from exc
        return PlannerReply(
            nodes=tuple(node.draft() for node in answer.nodes),
            gates=tuple(gates) if not answer.done else (),
            done=answer.done,
            answer=answer.answer if answer.done else None,
            compiler=f"openai/1:{model}",
            call=ModelCall(provider=f"openai:{model}", request=payload, raw_reply=raw),
        )

    def payload(self, request: PlanRequest) -> JsonObject:
        """The request body sent (and recorded): it never holds the API key."""
        asked = {
            "goal": request.goal,
            "inputs": request.inputs,
            "iteration": request.iteration,
            "observations": [dataclasses.asdict(seen) for seen in request.observations],
        }
        return {
            "model": self._endpoint.model,
            "temperature": 0,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "plan", "strict": True, "schema": PLAN_SCHEMA},
            },
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": canonical_json(asked)},
            ],
        }


def parse_plan(raw: str) -> PlanAnswer:
    """The model's answer, validated; `PlanInvalid` naming the first problem otherwise."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise PlanInvalid(f"planner answer is not JSON ({exc.msg})", raw_reply=raw) from exc
    try:
        return PlanAnswer.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the answer"
        message = f"planner answer is not a valid plan: {where}: {first['msg']}"
        raise PlanInvalid(message, raw_reply=raw) from exc


def _invalid(message: str, raw: str) -> PlanInvalid:
    return PlanInvalid(message, raw_reply=raw)
