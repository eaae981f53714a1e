"""`build_kernel(adapters=...)`: a test gives the kernel its own decider, sandbox and
parsers, and the runs use them (no monkeypatching), on both backends."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from jejakekal.bootstrap import Adapters, build_kernel, make_parsers
from jejakekal.config import Settings
from jejakekal.domain.contracts import IntentCreate, RunRequest, Workload
from jejakekal.domain.ports import (
    Decision,
    DecisionBody,
    DecisionEnvelope,
    DecisionRequest,
    ExecNode,
    ExecResult,
)


@dataclass
class RecordingDecider:
    """Approves every plan, and keeps what it was asked."""

    name: str = "recording"
    asked: list[DecisionRequest] = field(default_factory=list)

    def decide(self, request: DecisionRequest) -> DecisionEnvelope:
        self.asked.append(request)
        body = DecisionBody(
            run_id=request.run_id,
            goal=request.goal,
            plan_sha256=request.plan_sha256,
            nodes=request.nodes,
        )
        answer = Decision(action="execute", reason="the test approves")
        return DecisionEnvelope(provider=self.name, request=body, response=answer)


@dataclass
class RecordingSandbox:
    """Runs nothing: answers every node with exit code 0, and keeps the nodes."""

    name: str = "recording"
    nodes: list[ExecNode] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def execute(self, node: ExecNode) -> ExecResult:
        with self.lock:
            self.nodes.append(node)
        return ExecResult(
            exit_code=0,
            stdout=f"{node.node_id} ran nowhere\n",
            stderr="",
            files={},
            duration_ms=0.0,
            isolation="none (test)",
            hashes={"stdout": "0" * 64},
            process_bound="test",
        )


def test_a_run_uses_the_adapters_the_kernel_was_given(settings: Settings) -> None:
    decider, sandbox = RecordingDecider(), RecordingSandbox()
    adapters = Adapters(decider=decider, sandbox=sandbox, parsers=make_parsers())
    kernel = build_kernel(settings, "full", adapters=adapters)
    try:
        control = kernel.control
        intent = control.create_intent(IntentCreate(goal="injected", inputs={}, constraints={}))
        workload = Workload(concurrency=2, steps=3, sandboxMinutes=1)
        run = control.start_intent_run(intent, RunRequest(workload=workload))
        deadline = time.monotonic() + 30
        view = control.run_view(run.run_id)
        while view.status != "succeeded":
            assert time.monotonic() < deadline, view
            time.sleep(0.02)
            view = control.run_view(run.run_id)
    finally:
        kernel.close()

    assert [r.run_id for r in decider.asked] == [run.run_id]
    assert decider.asked[0].nodes == ["exec-1", "exec-2", "exec-3"]
    assert sorted(n.node_id for n in sandbox.nodes) == ["exec-1", "exec-2", "exec-3"]
    execute = next(s for s in view.steps if s.step_id == "ExecuteST")
    assert execute.output is not None
    nodes = execute.output["nodes"]
    assert isinstance(nodes, list)
    assert [n["isolation"] for n in nodes] == ["none (test)"] * 3
