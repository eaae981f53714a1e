"""Workflow `run_intent` and its child `execute_node`: control flow only
(docs/runs.md, "Intent runs").

No clock, randomness or I/O here (a test holds that): everything with an effect is a
step, so a replay after a crash re-reads checkpoints instead of acting again.
"""

from __future__ import annotations

from typing import TypedDict

from dbos import DBOS, PortableWorkflowError, SetWorkflowID, StepOptions

from jejakekal.domain import names
from jejakekal.domain.contracts import ExecNodeInput, RunIntentInput
from jejakekal.domain.errors import ModelUnavailable, NodeFailed
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
    """Plan, apply, decide, (wait for a human,) execute; in the agent loop, observe and
    plan again until the planner answers `done` (README, "The agent loop").

    The first iteration's operations are release 2's, in the same order, so its runs
    replay unchanged; a later iteration's steps carry its number (CompileST#2).
    """
    # The input crosses DBOS as portable JSON; the model gives it a typed shape.
    inp = RunIntentInput.model_validate(request)
    spec = inp.spec
    observed: list[JsonObject] = []
    nodes = 0
    for iteration in range(1, spec.max_iterations + 1):
        plan = _compile(request, iteration, observed)
        if plan.done:
            assert plan.answer is not None
            tx_step(names.STEP_ANSWER, steps.answer_st, inp.run_id, names.STEP_ANSWER, plan.answer)
            return IntentResult(run_id=inp.run_id, status="succeeded", nodes=nodes)
        _apply_and_decide(inp, plan, iteration)
        execute_step = names.iterated(names.STEP_EXECUTE, iteration)
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
        checkpoint = DBOS.run_step({"name": name, **_model_retries()}, steps.compile_st, request)
    else:
        checkpoint = DBOS.run_step(
            {"name": name, **_model_retries()}, steps.compile_st, request, iteration, observed
        )
    return Plan.model_validate(checkpoint)


def _apply_and_decide(inp: RunIntentInput, plan: Plan, iteration: int) -> None:
    tx_step(
        names.iterated(names.STEP_APPLY_PATCH, iteration), steps.apply_patch_st, inp.run_id, plan
    )
    ask = plan.lanes.ask
    decide = names.iterated(names.STEP_DECIDE, iteration)
    DBOS.run_step({"name": decide, **_model_retries()}, steps.decide_st, inp.run_id, plan, not ask)
    if ask:
        tx_step(names.OP_AWAIT_INPUT, steps.await_input, inp.run_id)
        answer = None
        while answer is None:
            answer = DBOS.recv(names.INPUT_TOPIC, timeout_seconds=_INPUT_WAIT_SEC)
        tx_step(names.OP_INPUT_RECEIVED, steps.input_received, inp.run_id, answer)


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
