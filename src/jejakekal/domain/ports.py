"""Ports: what the workflows need from the outside world."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NotRequired, Protocol, TypedDict


@dataclass(frozen=True)
class DecisionRequest:
    run_id: str
    goal: str
    plan_sha256: str
    nodes: list[str]


class DecisionBody(TypedDict):
    """What a decider is asked, as `app.opencode_calls.request` stores it."""

    run_id: str
    goal: str
    plan_sha256: str
    nodes: list[str]


class Decision(TypedDict):
    """A decider's validated answer, as `app.opencode_calls.response` stores it (and
    DecideST's checkpoint holds it)."""

    action: Literal["execute", "reject"]
    reason: str
    request_sha256: NotRequired[str]  # the stub's: which request it answered


@dataclass(frozen=True)
class DecisionEnvelope:
    """The decider's request/response pair, as stored in `app.opencode_calls`."""

    provider: str
    request: DecisionBody
    response: Decision


class Decider(Protocol):
    name: str

    def decide(self, request: DecisionRequest) -> DecisionEnvelope: ...


@dataclass(frozen=True)
class ExecNode:
    node_id: str
    argv: list[str]
    env: dict[str, str]
    timeout_sec: float


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: str
    stderr: str
    files: dict[str, str]  # relative path -> sha256
    duration_ms: float
    isolation: str
    timed_out: bool = False
    hashes: dict[str, str] = field(default_factory=dict)
    # What ended every process the node started: "bwrap" | "pid_namespace" | "subreaper".
    process_bound: str = ""

    def as_dict(self) -> ExecResultJson:
        return {
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "files": self.files,
            "duration_ms": round(self.duration_ms, 3),
            "isolation": self.isolation,
            "timed_out": self.timed_out,
            "hashes": self.hashes,
            "process_bound": self.process_bound,
        }


class ExecResultJson(TypedDict):
    exit_code: int
    stdout: str
    stderr: str
    files: dict[str, str]
    duration_ms: float
    isolation: str
    timed_out: bool
    hashes: dict[str, str]
    process_bound: str


class Sandbox(Protocol):
    name: str

    def execute(self, node: ExecNode) -> ExecResult: ...


@dataclass(frozen=True)
class BlockSpan:
    """One leaf block a parser found: `text[start:end]` of the canonical text it was given."""

    kind: str
    start: int
    end: int
    level: int | None = None


class DocumentParser(Protocol):
    """Finds the blocks of a canonical text; the domain builds and checks the docir."""

    name: str  # the producer name recorded in the docir, e.g. "parser:markdown"
    version: str
    format: str  # the docir `format`: "text" | "markdown"

    def blocks(self, text: str) -> list[BlockSpan]: ...
