"""Workflow `run_intent` and its child `execute_node`: control flow only
(docs/runs.md, "Intent runs").

No clock, randomness or I/O here (a test holds that): everything with an effect is a
step, so a replay after a crash re-reads checkpoints instead of acting again.
"""

from __future__ import annotations

from typing import TypedDict

from dbos import DBOS, PortableWorkflowError, SetWorkflowID, StepOptions

from jejakekal.domain import forks, gates, names
from jejakekal.domain.contracts import ExecNodeInput, RunIntentInput
from jejakekal.domain.errors import ModelUnavailable, NodeFailed
from jejakekal.domain.gates import Gate
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.plan import Plan
from jejakekal.workflows import steps, tracing
from jejakekal.workflows.runtime import current, tx_step


class IntentResult(TypedDict):
    """The workflow's output, as DBOS records it."""

    run_id: str
    status: str
    nodes: int


# How long one recv waits before the loop checkpoints and waits again.
_INPUT_WAIT_SEC = 3600.0


@DBOS.workflow(name=names.WF_RUN_INTENT)
def run_intent(request: JsonObject) -> IntentResult:
    """Plan, apply, decide, (wait for a human,) execute; in the agent loop, observe and
    plan again until the planner answers `done` (README, "The agent loop").

    The first iteration's operations are release 2's, in the same order, so its runs
    replay unchanged; a later iteration's steps carry its number (CompileST#2).
    """
    # A fork runs for its own run id; any other workflow's request is left as it is.
    request = forks.bind(request, DBOS.workflow_id or "")
    # The input crosses DBOS as portable JSON; the model gives it a typed shape.
    inp = RunIntentInput.model_validate(request)
    tracing.tag_run(inp.run_id)
    spec = inp.spec
    observed: list[JsonObject] = []
    nodes = 0
    for iteration in range(1, spec.max_iterations + 1):
        plan = _compile(request, iteration, observed)
        if plan.done:
            assert plan.answer is not None
            tx_step(names.STEP_ANSWER, steps.answer_st, inp.run_id, names.STEP_ANSWER, plan.answer)
            return IntentResult(run_id=inp.run_id, status="succeeded", nodes=nodes)
        execute_step = names.iterated(names.STEP_EXECUTE, iteration)
        if not _apply_decide_and_ask(inp, plan, iteration, execute_step):
            # A gate was rejected or timed out: its step ended the run `failed`.
            return IntentResult(run_id=inp.run_id, status="failed", nodes=nodes)
        results = _execute_wave(inp, plan, execute_step, closes_run=spec.agent is None)
        nodes += len(results)
        if spec.agent is None:
            # The last node's own transaction closed ExecuteST and the run (execute.node_done).
            return IntentResult(run_id=inp.run_id, status="succeeded", nodes=nodes)
        observe_step = names.iterated(names.STEP_OBSERVE, iteration)
        observed = tx_step(observe_step, steps.observe_st, inp.run_id, observe_step, plan, results)
    tx_step(names.OP_LOOP_EXHAUSTED, steps.loop_exhausted, inp.run_id, spec.max_iterations)
    return IntentResult(run_id=inp.run_id, status="failed", nodes=nodes)


def _model_retries() -> StepOptions:
    """For a step that may call a model: a transient failure (network, 429, 5xx) is
    retried with backoff; anything else fails the step at once."""
    settings = current().settings
    return {
        "retries_allowed": True,
        "max_attempts": settings.step_max_attempts,
        "interval_seconds": settings.step_retry_interval_sec,
        "backoff_rate": 2.0,
        "should_retry": lambda exc: isinstance(exc, ModelUnavailable),
    }


def _compile(request: JsonObject, iteration: int, observed: list[JsonObject]) -> Plan:
    # CompileST's checkpoint is the plan's JSON; a replay validates it into the same model.
    name = names.iterated(names.STEP_COMPILE, iteration)
    if iteration == 1:
        # Release 2 called it with the request alone; so do first iterations still.
        checkpoint = tracing.run_step({"name": name, **_model_retries()}, steps.compile_st, request)
    else:
        checkpoint = tracing.run_step(
            {"name": name, **_model_retries()}, steps.compile_st, request, iteration, observed
        )
    return Plan.model_validate(checkpoint)


def _apply_decide_and_ask(
    inp: RunIntentInput, plan: Plan, iteration: int, execute_step: str
) -> bool:
    """ApplyPatchST, DecideST, then the plan's gates in order; False when a gate ended
    the run."""
    tx_step(
        names.iterated(names.STEP_APPLY_PATCH, iteration), steps.apply_patch_st, inp.run_id, plan
    )
    asks = plan.asks
    decide = names.iterated(names.STEP_DECIDE, iteration)
    tracing.run_step(
        {"name": decide, **_model_retries()}, steps.decide_st, inp.run_id, plan, not asks
    )
    for i, gate in enumerate(asks):
        last = i == len(asks) - 1
        if not _ask(inp.run_id, gate, iteration, execute_step if last else None):
            return False
    return True


def _ask(run_id: str, gate: Gate, iteration: int, execute_step: str | None) -> bool:
    """Open the gate, wait for its answer or its deadline, close it (README, "Human
    gates"). The `input` gate's operations are release 2's, so its runs replay."""
    open_op, close_op = gates.ops(gate, iteration)
    spec = gate.spec()
    # A release-3 run replaying its `AwaitInput` gets that step's recorded None back.
    opened: steps.GateOpened | None = tx_step(
        open_op, steps.gate_opened, run_id, spec, iteration, open_op
    )
    if gate.timeout_s is None or opened is None:
        message = _wait_untimed(gate.topic)
    else:
        message = _wait_timed(run_id, gate, opened, spec, close_op)
    closed = tx_step(
        close_op, steps.gate_closed, run_id, spec, opened, message is None, execute_step
    )
    # Release 3's InputReceived recorded None.
    return closed is None or closed["outcome"] == gates.Outcome.ANSWERED


def _wait_untimed(topic: str) -> object:
    """An answer, however long it takes; a cancel's wake-up is not one."""
    while True:
        message = DBOS.recv(topic, timeout_seconds=_INPUT_WAIT_SEC)
        if message is not None and message != gates.WAKE:
            return message


def _wait_timed(
    run_id: str, gate: Gate, opened: steps.GateOpened, spec: JsonObject, close_op: str
) -> object | None:
    """An answer, or None at the deadline. DBOS keeps each wait's end durably, so a
    restart neither resets nor skips it; after a cancel's wake-up (then a resume) the
    wait goes on to the same deadline, read from the clock in a step."""
    deadline = opened["deadline"]
    assert deadline is not None and gate.timeout_s is not None
    escalate_at = opened["escalate_at"]
    clock = close_op.replace(names.OP_INPUT_RECEIVED, "GateClock", 1)
    first = gate.escalate_after_s if escalate_at is not None else gate.timeout_s
    message = _recv_until(gate.topic, first, escalate_at or deadline, clock)
    if message is None and escalate_at is not None:
        escalate_op = close_op.replace(names.OP_INPUT_RECEIVED, "GateEscalated", 1)
        left = tx_step(escalate_op, steps.gate_escalated, run_id, spec, opened["gate_id"], deadline)
        message = _recv_until(gate.topic, left, deadline, clock)
    return message


def _recv_until(topic: str, seconds: float | None, until: float, clock: str) -> object | None:
    assert seconds is not None
    message: object = DBOS.recv(topic, timeout_seconds=seconds)
    while message == gates.WAKE:
        left = tracing.run_step({"name": clock}, steps.seconds_until, until)
        message = DBOS.recv(topic, timeout_seconds=left)
    return message


def _execute_wave(
    inp: RunIntentInput, plan: Plan, step_id: str, *, closes_run: bool
) -> list[steps.NodeResult]:
    settings = current().settings
    try:
        return _execute(inp, plan, settings.step_max_attempts, step_id, closes_run)
    except Exception as exc:
        if not _is_step_failure(exc):
            raise
        tx_step(
            names.failed_op(step_id),
            steps.execute_fail,
            inp.run_id,
            settings.step_max_attempts,
            _failure_text(exc, step_id),
            step_id,
        )
        raise


def _failure_text(exc: Exception, step_id: str) -> str:
    """The child's own message (it names the node, its exit and its stderr); a child of
    release 2 failed with DBOS's retry error instead."""
    if isinstance(exc, PortableWorkflowError) and exc.name == NodeFailed.__name__:
        return exc.message
    return f"{step_id} failed: {exc}"


def _execute(
    inp: RunIntentInput, plan: Plan, max_attempts: int, step_id: str, closes_run: bool
) -> list[steps.NodeResult]:
    """ExecuteST: each node a child workflow on sandboxQ, in waves of at most
    `concurrency` (which bounds the run's share of the queue); their results in order."""
    nodes = plan.workload.nodes
    spec = inp.spec
    queue = DBOS.retrieve_queue(names.SANDBOX_QUEUE)
    assert queue is not None
    results: list[steps.NodeResult] = []
    for start in range(0, len(nodes), inp.concurrency):
        handles = []
        for node in nodes[start : start + inp.concurrency]:
            child = ExecNodeInput(
                run_id=inp.run_id,
                node_id=node.node_id,
                argv=node.argv,
                env=node.env,
                timeout_sec=inp.sandbox_minutes * 60,
                fail_mode=plan.lanes.fail_mode,
                max_attempts=max_attempts,
                node_count=len(nodes),
                step_id=step_id,
                closes_run=closes_run,
                files=node.files or {},
                retry_nonzero=spec.retry_nonzero,
                isolated_only=spec.runs_foreign_commands,
                output_cap_bytes=spec.output_cap_bytes,
                max_out_files=spec.max_out_files,
                max_out_file_bytes=spec.max_out_file_bytes,
            )
            with SetWorkflowID(f"{inp.run_id}:{node.node_id}"):
                handles.append(queue.enqueue(execute_node, child.model_dump()))
        for handle in handles:
            results.append(current().results.result(handle))
    return results


@DBOS.workflow(name=names.WF_EXECUTE_NODE)
def execute_node(request: JsonObject) -> steps.NodeResult:
    tracing.tag_run(ExecNodeInput.model_validate(request).run_id)
    settings = current().settings
    result: steps.NodeResult = tracing.run_step(
        {
            "name": names.STEP_EXECUTE,
            "retries_allowed": True,
            "max_attempts": settings.step_max_attempts,
            "interval_seconds": settings.step_retry_interval_sec,
            "backoff_rate": 2.0,
        },
        steps.execute_node_st,
        request,
    )
    if "failure" in result:
        # The node gave up (steps.execute_node_st): the child fails with its message.
        raise NodeFailed(result["failure"])
    return result


def _is_step_failure(exc: Exception) -> bool:
    """A child whose ExecuteST gave up, as opposed to a cancel or an engine fault.

    With the portable serializer a child's own error comes back as
    PortableWorkflowError; DBOS's control-flow errors (cancellation) keep their types.
    """
    return isinstance(exc, PortableWorkflowError)
