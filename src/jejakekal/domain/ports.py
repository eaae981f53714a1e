"""Ports: what the workflows need from the outside world."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, NotRequired, Protocol, TypedDict

from jejakekal.domain.gates import Gate
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.plan import PlanLanes

# What a node may leave behind, unless its recipe says otherwise (README, "Outputs").
OUTPUT_CAP_BYTES = 1024 * 1024
MAX_OUT_FILES = 32
MAX_OUT_FILE_BYTES = 1024 * 1024
OUT_DIR = "out"
# The one isolation a user's or a model's commands may run under (unless the operator
# opts out): bubblewrap, no network, no host files.
ISOLATING = "bwrap"


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
    # name (a relative path) -> text, written into the workspace before the command runs.
    files: Mapping[str, str] = field(default_factory=dict)
    output_cap_bytes: int = OUTPUT_CAP_BYTES  # per stream: stdout, stderr
    max_out_files: int = MAX_OUT_FILES  # kept from the workspace's `out/` folder
    max_out_file_bytes: int = MAX_OUT_FILE_BYTES


@dataclass(frozen=True)
class OutFile:
    """A regular file the command left under `out/`, its bytes cut at the node's cap."""

    path: str  # relative to the workspace, e.g. "out/report.csv"
    content: bytes  # at most `max_out_file_bytes`
    size: int  # the file's whole size
    sha256: str  # of the whole file

    @property
    def truncated(self) -> bool:
        return self.size > len(self.content)


# A sandbox fault: the sandbox, not the command, ended the node. None when the command
# ran to its own end (whatever its exit code).
Fault = Literal["timeout", "limit", "no_sandbox"]


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
    # The streams' whole sizes in bytes; `stdout`/`stderr` hold at most the node's cap.
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    out_files: tuple[OutFile, ...] = ()
    out_files_dropped: int = 0  # files under out/ beyond the node's count cap
    fault: Fault | None = None

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
            "fault": self.fault,
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
    fault: NotRequired[str | None]  # absent before release 3


class Sandbox(Protocol):
    name: str

    @property
    def isolation(self) -> str:
        """What a node would run under here: "bwrap" isolates, "subprocess" does not."""
        ...

    def execute(self, node: ExecNode) -> ExecResult: ...


@dataclass(frozen=True)
class Observation:
    """One finished node as a planner sees it in the agent loop (ObserveST)."""

    node_id: str
    argv: list[str]
    exit_code: int
    fault: str | None
    stdout_tail: str  # the last few KiB
    stdout_sha256: str
    stderr_tail: str
    stderr_sha256: str
    out_files: dict[str, str]  # path -> sha256


@dataclass(frozen=True)
class PlanRequest:
    """What a planner is asked: the intent, its recipe's options, and (in the agent loop,
    from the second iteration on) what the earlier waves did."""

    run_id: str
    goal: str
    inputs: JsonObject
    recipe_name: str
    iteration: int  # 1 for the first plan
    observations: tuple[Observation, ...] = ()
    steps: int = 1  # the workload's node count, for planners that do not choose their own


@dataclass(frozen=True)
class NodeDraft:
    """One execution node a planner proposes."""

    argv: list[str]
    purpose: str = ""
    expected_outputs: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlannerReply:
    """A planner's validated answer: a wave of nodes, or `done` with an answer.

    `call` is the model call's request and raw reply when a model answered (recorded in
    `app.opencode_calls`); None for planners that call nothing.
    """

    nodes: tuple[NodeDraft, ...] = ()
    done: bool = False
    answer: str | None = None
    compiler: str = ""  # recorded as the plan's `compiler`, e.g. "script/1"
    call: ModelCall | None = None
    lanes: PlanLanes | None = None  # the stub's demo lanes
    files: Mapping[str, str] = field(default_factory=dict)  # written into every node's workspace
    gates: tuple[Gate, ...] = ()  # asked, in order, after DecideST (README, "Human gates")


@dataclass(frozen=True)
class ModelCall:
    provider: str  # e.g. "openai:gpt-4o-mini"
    request: JsonObject
    raw_reply: str


class Planner(Protocol):
    """[ADP-PLAN] Turns an intent (and, in the loop, observations) into nodes or `done`.

    Raises `PlanInvalid` (carrying the raw reply) when a model's answer does not
    validate, and `ModelUnavailable` for a transient failure worth retrying.
    """

    name: str

    def plan(self, request: PlanRequest) -> PlannerReply: ...


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
