"""Workflow `run_intent` and its child `execute_node`: control flow only
(docs/runs.md, "Intent runs").

No clock, randomness or I/O here (a test holds that): everything with an effect is a
step, so a replay after a crash re-reads checkpoints instead of acting again.
"""

from __future__ import annotations

from typing import TypedDict

from dbos import DBOS, PortableWorkflowError, SetWorkflowID

from jejakekal.domain import names
from jejakekal.domain.contracts import ExecNodeInput, RunIntentInput
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.plan import Plan
from jejakekal.workflows import steps
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
    # The input crosses DBOS as portable JSON; the model gives it a typed shape.
    inp = RunIntentInput.model_validate(request)
    # CompileST's checkpoint is the plan's JSON; a replay validates it into the same model.
    plan = Plan.model_validate(tx_step(names.STEP_COMPILE, steps.compile_st, request))
    tx_step(names.STEP_APPLY_PATCH, steps.apply_patch_st, inp.run_id, plan)
    ask = plan.lanes.ask
    DBOS.run_step({"name": names.STEP_DECIDE}, steps.decide_st, inp.run_id, plan, not ask)

    if ask:
        tx_step(names.OP_AWAIT_INPUT, steps.await_input, inp.run_id)
        answer = None
        while answer is None:
            answer = DBOS.recv(names.INPUT_TOPIC, timeout_seconds=_INPUT_WAIT_SEC)
        tx_step(names.OP_INPUT_RECEIVED, steps.input_received, inp.run_id, answer)

    settings = current().settings
    try:
        results = _execute(inp, plan, settings.step_max_attempts)
    except Exception as exc:
        if not _is_step_failure(exc):
            raise
        error = f"ExecuteST failed after {settings.step_max_attempts} attempts: {exc}"
        tx_step(
            names.OP_EXECUTE_FAIL,
            steps.execute_fail,
            inp.run_id,
            settings.step_max_attempts,
            error,
        )
        raise
    # The last node's own transaction closed ExecuteST and the run (execute.node_done).
    return IntentResult(run_id=inp.run_id, status="succeeded", nodes=len(results))


def _execute(inp: RunIntentInput, plan: Plan, max_attempts: int) -> list[steps.NodeResult]:
    """ExecuteST: each node a child workflow on sandboxQ, in waves of at most
    `concurrency` (which bounds the run's share of the queue); their results in order."""
    nodes = plan.workload.nodes
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
            )
            with SetWorkflowID(f"{inp.run_id}:{node.node_id}"):
                handles.append(queue.enqueue(execute_node, child.model_dump()))
        for handle in handles:
            results.append(current().results.result(handle))
    return results


@DBOS.workflow(name=names.WF_EXECUTE_NODE)
def execute_node(request: JsonObject) -> steps.NodeResult:
    settings = current().settings
    result: steps.NodeResult = DBOS.run_step(
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
    return result


def _is_step_failure(exc: Exception) -> bool:
    """A child whose ExecuteST gave up, as opposed to a cancel or an engine fault.

    With the portable serializer a child's own error comes back as
    PortableWorkflowError; DBOS's control-flow errors (cancellation) keep their types.
    """
    return isinstance(exc, PortableWorkflowError)
