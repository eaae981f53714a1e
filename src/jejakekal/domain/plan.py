"""A plan, typed: what CompileST produces and every later step of an intent run reads.

The JSON keys are the checkpointed ones (DBOS stores CompileST's output as JSON), so a
run checkpointed by an earlier release validates into the same model when it replays;
`model_dump()` gives back those keys, for the checkpoint and the plan's hash.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from jejakekal.domain.gates import Gate, input_gate
from jejakekal.domain.jsontypes import JsonObject

FailMode = Literal["none", "always", "first"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class PlanLanes(_Frozen):
    """The demo lanes the default compiler reads from the goal (see `compiler`)."""

    ask: bool
    fail: bool
    flaky: bool
    slow: bool = False
    # lane -> the goal's word that selected it; absent from plans made before lanes
    # were whole words.
    selected_by: dict[str, str] | None = None

    @property
    def fail_mode(self) -> FailMode:
        return "always" if self.fail else "first" if self.flaky else "none"


class PlanNode(_Frozen):
    node_id: str
    kind: str
    argv: list[str]
    env: dict[str, str]
    # What a planner said the node is for and leaves behind; absent from stub plans.
    purpose: str | None = None
    expected_outputs: list[str] | None = None
    # name -> text written into the node's workspace first (the script recipe's `files`).
    files: dict[str, str] | None = None


class PatchOp(_Frozen):
    op: Literal["add", "replace", "remove"]
    path: str
    value: Any = None


class Workload(_Frozen):
    concurrency: int
    steps: int
    nodes: list[PlanNode]


class Plan(_Frozen):
    compiler: str
    recipe: str
    lanes: PlanLanes
    patch: list[PatchOp]
    workload: Workload
    plan_sha256: str
    # The agent loop's iteration (absent for the first plan) and, when the planner
    # answered `done` instead of nodes, its answer.
    iteration: int | None = None
    answer: str | None = None
    # The human gates asked after DecideST, in order (absent when there are none).
    gates: list[Gate] | None = None

    @property
    def done(self) -> bool:
        return self.answer is not None

    @property
    def goal(self) -> str:
        """The goal the plan was compiled for: the value its patch adds at `/goal`."""
        for op in self.patch:
            if op.path == "/goal" and op.op in ("add", "replace"):
                return str(op.value)
        raise ValueError("the plan's patch sets no /goal")

    @property
    def asks(self) -> list[Gate]:
        """The gates the run stops at: the plan's own, or the `ask` lane's `input` gate."""
        if self.gates:
            return list(self.gates)
        return [input_gate()] if self.lanes.ask else []

    @property
    def node_ids(self) -> list[str]:
        return [node.node_id for node in self.workload.nodes]

    def checkpoint(self) -> JsonObject:
        """The plan as CompileST's checkpoint holds it (and as its hash covers it).

        Fields an older plan lacks stay absent (no plan field is ever null otherwise)."""
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)
