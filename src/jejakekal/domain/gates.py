"""Human gates: a question a run stops at, the answers it takes, and what a timeout does
(README, "Human gates").

A gate is part of a plan (the script recipe declares them in `inputs.gates`, the openai
planner may propose them, a recipe with `approval: plan` adds one for the plan itself;
the stub planner's `ask` lane is the gate `input`). The run asks its gates in order after
DecideST, before ExecuteST. An answer is validated against the gate's schema before
anything is written; a choice answer `reject` ends the run `failed`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

import jsonschema
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from jejakekal.domain import errors, names
from jejakekal.domain.canonical import canonical_json

GATE_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
GateKey = Annotated[str, StringConstraints(pattern=GATE_KEY.pattern)]
Choice = Annotated[str, StringConstraints(min_length=1, max_length=64)]

# The choice that rejects: the run ends `failed`, naming the gate, the actor and the reason.
REJECT = "reject"
APPROVE = "approve"
# The gate of the stub planner's `ask` lane, and of `POST /runs/{id}/events {"type":"input"}`.
INPUT_GATE = "input"
# The gate a recipe with `approval: plan` opens after DecideST.
PLAN_GATE = "plan"
MAX_TEXT_CHARS = 20_000
MAX_SCHEMA_BYTES = 8 * 1024
MAX_ANSWER_BYTES = 64 * 1024
MAX_TIMEOUT_S = 30 * 24 * 3600.0
MAX_GATES = 8
# What a cancel sends a waiting run, so its `recv` returns at once (not an answer).
WAKE = {"jejakekal": "wake"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChoiceSchema(_Model):
    """One of a few words; the UI shows a button for each."""

    type: Literal["choice"] = "choice"
    choices: list[Choice] = Field(min_length=1, max_length=20)

    @field_validator("choices")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("choices must be distinct")
        return value


class TextSchema(_Model):
    """Free text of at most `max_length` characters."""

    type: Literal["text"] = "text"
    max_length: int = Field(default=2000, ge=1, le=MAX_TEXT_CHARS)


class JsonSchemaAnswer(_Model):
    """A JSON value; with `schema`, one that a small JSON Schema (draft 2020-12) accepts."""

    type: Literal["json"] = "json"
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("schema_")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        if len(canonical_json(value).encode()) > MAX_SCHEMA_BYTES:
            raise ValueError(f"the schema is larger than {MAX_SCHEMA_BYTES} bytes")
        try:
            jsonschema.Draft202012Validator.check_schema(value)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"not a JSON Schema: {exc.message}") from exc
        return value


AnswerSchema = Annotated[ChoiceSchema | TextSchema | JsonSchemaAnswer, Field(discriminator="type")]


class DefaultAnswer(_Model):
    """On timeout, the gate takes this answer (validated like any other)."""

    default: Any


OnTimeout = Literal["fail", "reject"] | DefaultAnswer


class Gate(_Model):
    key: GateKey
    question: str = Field(min_length=1, max_length=2000)
    answer: AnswerSchema = Field(default_factory=lambda: ChoiceSchema(choices=[APPROVE, REJECT]))
    timeout_s: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S)
    on_timeout: OnTimeout = "fail"
    # Before the deadline: the gate is marked escalated (a ledger row, the inbox says so).
    escalate_after_s: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S)

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Gate:
        if self.escalate_after_s is not None and (
            self.timeout_s is None or self.escalate_after_s >= self.timeout_s
        ):
            raise ValueError("escalate_after_s needs a timeout_s larger than it")
        if isinstance(self.on_timeout, DefaultAnswer):
            check_answer(self, self.on_timeout.default)  # InvalidAnswer, not a ValueError
        return self

    @property
    def question_sha256(self) -> str:
        return hashlib.sha256(self.question.encode()).hexdigest()

    @property
    def topic(self) -> str:
        """The DBOS topic its answer is sent on (the `input` gate keeps release 2's)."""
        return names.INPUT_TOPIC if self.key == INPUT_GATE else f"gate:{self.key}"

    def spec(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Outcome(StrEnum):
    """How a gate closed; `rejected` and `timed_out` (unless a default applied) end the
    run `failed`."""

    ANSWERED = "answered"
    REJECTED = "rejected"
    TIMED_OUT = "timed_out"


class LedgerKind(StrEnum):
    OPENED = "opened"
    ANSWERED = "answered"
    ESCALATED = "escalated"
    TIMED_OUT = "timed_out"


class Origin(StrEnum):
    API = "api"
    UI = "ui"
    CLI = "cli"
    SYSTEM = "system"  # a timeout's default answer


@dataclass(frozen=True)
class Said:
    """An accepted answer, who gave it and from where: a gate's and its ledger row's
    columns."""

    answer: Any
    actor: str
    origin: str
    dedupe_key: str | None = None
    reason: str | None = None

    def columns(self) -> dict[str, Any]:
        return asdict(self)


class GateAnswer(BaseModel):
    """`POST /runs/{id}/gates/{key}`: the answer, and optionally a dedupe key and a reason."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    answer: Any = Field()
    dedupeKey: str | None = Field(default=None, min_length=1, max_length=200)
    reason: str | None = Field(default=None, max_length=2000)


def check_answer(gate: Gate, value: Any) -> None:
    """`InvalidAnswer` naming the gate unless `value` fits its schema."""
    schema = gate.answer

    def refuse(message: str) -> errors.InvalidAnswer:
        return errors.InvalidAnswer(f"gate {gate.key!r}: {message}", gate=gate.key, field="answer")

    if len(canonical_json(value).encode()) > MAX_ANSWER_BYTES:
        raise refuse(f"the answer is larger than {MAX_ANSWER_BYTES} bytes")
    if isinstance(schema, ChoiceSchema):
        if value not in schema.choices or not isinstance(value, str):
            raise refuse(f"the answer must be one of {', '.join(schema.choices)}")
    elif isinstance(schema, TextSchema):
        if not isinstance(value, str) or not value.strip():
            raise refuse("the answer must be non-blank text")
        if len(value) > schema.max_length:
            raise refuse(f"{len(value)} characters, at most {schema.max_length}")
    elif schema.schema_ is not None:
        error = jsonschema.exceptions.best_match(
            jsonschema.Draft202012Validator(schema.schema_).iter_errors(value)
        )
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path)
            raise refuse(f"{where or 'the answer'}: {error.message}")


def rejects(gate: Gate, value: Any) -> bool:
    return isinstance(gate.answer, ChoiceSchema) and value == REJECT


def parse_gates(raw: Any, where: str) -> list[Gate]:
    """A list of gates from a recipe's inputs or a model's reply, or `InvalidRunRequest`
    naming the field (`inputs.gates.0.question`)."""
    if not isinstance(raw, list):
        raise errors.InvalidRunRequest(f"{where}: must be a list of gates", field=where)
    if len(raw) > MAX_GATES:
        raise errors.InvalidRunRequest(f"{where}: at most {MAX_GATES} gates", field=where)
    gates: list[Gate] = []
    for i, item in enumerate(raw):
        try:
            gates.append(Gate.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-"))
            field = f"{where}.{i}" + (f".{loc}" if loc else "")
            raise errors.InvalidRunRequest(f"{field}: {first['msg']}", field=field) from exc
        except errors.InvalidAnswer as exc:
            field = f"{where}.{i}.on_timeout.default"
            raise errors.InvalidRunRequest(f"{field}: {exc.message}", field=field) from exc
    keys = [g.key for g in gates]
    for key in keys:
        if keys.count(key) > 1 or key == PLAN_GATE:
            raise errors.InvalidRunRequest(
                f"{where}: gate key {key!r} is used twice or reserved", field=where
            )
    return gates


def plan_gate(node_commands: Sequence[str]) -> Gate:
    """The plan-approval gate: approve runs the nodes, reject ends the run."""
    listed = "; ".join(node_commands[:8]) + ("; ..." if len(node_commands) > 8 else "")
    question = f"Approve the plan? {len(node_commands)} node(s): {listed}"
    return Gate(key=PLAN_GATE, question=question[:2000])


def input_gate() -> Gate:
    """The stub planner's `ask` lane: any JSON object answers it (the courses send
    `{"type":"input","payload":{...}}`)."""
    return Gate(
        key=INPUT_GATE,
        question="The run asks for input before it executes: send any JSON object.",
        answer=JsonSchemaAnswer.model_validate({"type": "json", "schema": {"type": "object"}}),
    )


def ops(gate: Gate, iteration: int) -> tuple[str, str]:
    """The gate's opening and closing operations; the `input` gate keeps release 2's
    names (`AwaitInput`, `InputReceived`) so its runs replay unchanged."""
    if gate.key == INPUT_GATE:
        opened, closed = names.OP_AWAIT_INPUT, names.OP_INPUT_RECEIVED
    else:
        opened = f"{names.OP_AWAIT_INPUT}:{gate.key}"
        closed = f"{names.OP_INPUT_RECEIVED}:{gate.key}"
    return names.iterated(opened, iteration), names.iterated(closed, iteration)


def same_answer(a: Any, b: Any) -> bool:
    return canonical_json(a) == canonical_json(b)


_ACTOR = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")
# Who answered when no one said: the API token's holder, or no one known.
TOKEN_ACTOR = "token"
ANONYMOUS = "anonymous"


def parse_actor(raw: str, where: str = "X-Actor") -> str:
    """An actor's name as given (`X-Actor`, the CLI's `--actor`, the UI's form)."""
    actor = raw.strip()
    if not _ACTOR.match(actor):
        raise errors.InvalidActor(
            f"{where}: 1 to 100 printable characters, not {raw[:40]!r}", field=where
        )
    return actor


def parse_origin(raw: str | None) -> Origin:
    """`X-Origin`: the client that sent the answer says so (`ui`, `cli`); else `api`."""
    if raw is None:
        return Origin.API
    if raw not in (Origin.API, Origin.UI, Origin.CLI):
        raise errors.InvalidActor("X-Origin: one of api, ui, cli", field="X-Origin")
    return Origin(raw)


def parse_key(raw: str) -> str:
    if not GATE_KEY.match(raw):
        raise errors.InvalidAnswer(
            "a gate key is a lowercase word: a letter, then letters, digits, '_' or '-'",
            field="key",
        )
    return raw
