"""Step bodies of the intent workflow. Time, I/O and subprocesses live here.

Each records its step and the run's change through `storage.runs`, with the change
the life cycle names (`domain.lifecycle`); ExecuteST's record is `storage.execute`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import NoReturn, TypedDict

from dbos import DBOS

from jejakekal import runlog
from jejakekal.domain import lifecycle, names
from jejakekal.domain.canonical import canonical_json
from jejakekal.domain.compiler import apply_patch, compile_plan, sha256_text
from jejakekal.domain.contracts import ExecNodeInput, RunIntentInput
from jejakekal.domain.errors import DecisionInvalid, DecisionRejected, NodeFailed
from jejakekal.domain.execute import Node
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.lifecycle import RunChange
from jejakekal.domain.plan import Plan
from jejakekal.domain.ports import Decision, DecisionRequest, ExecNode, ExecResultJson
from jejakekal.domain.records import StepPhase, StepRecord
from jejakekal.storage import execute, runs
from jejakekal.storage.database import Tx
from jejakekal.storage.effects import call_idempotent_effect, deliver_receipt
from jejakekal.workflows.runtime import current


class PatchResult(TypedDict):
    state_sha256: str


class NodeResult(Node):
    """ExecuteST's checkpoint for one node: its summary and the sandbox's result."""

    result: ExecResultJson


def compile_st(tx: Tx, request: JsonObject) -> JsonObject:
    """Compile the plan; its checkpoint is the plan's JSON (`Plan.checkpoint`)."""
    inp = RunIntentInput.model_validate(request)
    started = runs.now()
    goal, inputs = inp.goal, inp.inputs
    if goal is None or inputs is None:
        intent = runs.get_intent(tx, inp.intent_id)
        if intent is None:
            raise LookupError(f"intent {inp.intent_id} vanished")
        goal, inputs = intent.goal, intent.inputs
    plan = compile_plan(goal, inputs, inp.recipe_name, inp.steps, inp.concurrency)
    output = {"attempt": 1, "plan_sha256": plan.plan_sha256, "nodes": inp.steps}
    _step_done(tx, inp.run_id, names.STEP_COMPILE, output, started, lifecycle.compiled())
    return plan.checkpoint()


def apply_patch_st(tx: Tx, run_id: str, plan: Plan) -> PatchResult:
    started = runs.now()
    state = apply_patch({}, plan.patch)
    state_sha = sha256_text(canonical_json(state))
    output = {"attempt": 1, "ops": len(plan.patch), "state_sha256": state_sha}
    _step_done(tx, run_id, names.STEP_APPLY_PATCH, output, started)
    return PatchResult(state_sha256=state_sha)


def decide_st(run_id: str, plan: Plan, opens_execute: bool) -> Decision:
    """Ask the decider (an external call: outside any transaction), then record it.

    The envelope's id is derived from run, step and the run's attempt (one more per
    retry): a retry that asks again keeps both envelopes, and a replay of this step
    after a crash between its commit and the checkpoint stores no second row.
    """
    rt = current()
    started = runs.now()
    request = DecisionRequest(
        run_id=run_id, goal=plan.goal, plan_sha256=plan.plan_sha256, nodes=plan.node_ids
    )
    try:
        envelope = rt.decider.decide(request)
    except DecisionInvalid as exc:
        what = f"the decider's answer is invalid: {exc}"
        runlog.outcome(run_id, names.STEP_DECIDE, what, level=logging.WARNING)
        raise
    action = envelope.response["action"]
    with rt.db.write() as tx:
        attempt = runs.run_attempt(tx, run_id)
        output = {"attempt": attempt, "provider": envelope.provider, "action": action}
        runs.record_decision(
            tx, run_id, names.STEP_DECIDE, envelope.request, envelope.response, attempt=attempt
        )
        if action == "reject":
            rejected = lifecycle.rejected(envelope.response.get("reason", ""))
            _step_done(tx, run_id, names.STEP_DECIDE, output, started, rejected)
        elif opens_execute:
            runs.record_step(tx, _done(run_id, names.STEP_DECIDE, output, started))
            execute.open_step(tx, run_id, after_input=False)  # moves last_step on to ExecuteST
        else:
            _step_done(tx, run_id, names.STEP_DECIDE, output, started)
    if action == "reject":
        reason = envelope.response.get("reason", "rejected")
        what = f"rejected on attempt {attempt}: {reason}"
        runlog.outcome(run_id, names.STEP_DECIDE, what, level=logging.WARNING)
        # Failing the step ends the workflow in ERROR; a retry re-enters at DecideST.
        raise DecisionRejected(reason)
    return envelope.response


def _done(run_id: str, step_id: str, output: Mapping[str, object], started: datetime) -> StepRecord:
    return StepRecord(
        run_id=run_id,
        step_id=step_id,
        phase=StepPhase.DONE,
        output=output,
        started_at=started,
        finished_at=runs.now(),
    )


def _step_done(
    tx: Tx,
    run_id: str,
    step_id: str,
    output: Mapping[str, object],
    started: datetime,
    change: RunChange | None = None,
) -> None:
    """Record a finished step and apply `change` (by default: the step becomes the run's
    last step), in the caller's transaction."""
    runs.record_step(
        tx, _done(run_id, step_id, output, started), change or lifecycle.step_finished(step_id)
    )


def await_input(tx: Tx, run_id: str) -> None:
    runs.change_run(tx, run_id, lifecycle.awaiting_input())


def input_received(tx: Tx, run_id: str, answer: object) -> None:
    execute.open_step(tx, run_id, after_input=True)


def execute_fail(tx: Tx, run_id: str, attempts: int, error: str) -> None:
    execute.fail(tx, run_id, attempts, error)
    what = f"{lifecycle.RunStatus.RETRIES_EXCEEDED} after {attempts} attempts"
    runlog.outcome(run_id, names.STEP_EXECUTE, what, level=logging.WARNING)


def execute_node_st(request: JsonObject) -> NodeResult:
    """One execution node: run it in the sandbox, then deliver its receipt exactly once."""
    node = ExecNodeInput.model_validate(request)
    status = DBOS.step_status
    attempt = (status.current_attempt or 0) + 1 if status else 1
    if node.fail_mode == "always" or (node.fail_mode == "first" and attempt == 1):
        _node_failed(node, attempt, f"{node.node_id}: simulated failure on attempt {attempt}")
    rt = current()
    result = rt.sandbox.execute(
        ExecNode(node_id=node.node_id, argv=node.argv, env=node.env, timeout_sec=node.timeout_sec)
    )
    if result.exit_code != 0:
        _node_failed(
            node, attempt, f"{node.node_id}: exit code {result.exit_code}: {result.stderr[-200:]}"
        )
    key = f"{node.run_id}:{names.STEP_EXECUTE}:{node.node_id}"
    payload: JsonObject = {
        "run_id": node.run_id,
        "node_id": node.node_id,
        "stdout_sha256": result.hashes.get("stdout"),
    }
    with rt.db.write() as tx:
        receipt = call_idempotent_effect(
            tx, key, node.run_id, names.STEP_EXECUTE, lambda db: deliver_receipt(db, key, payload)
        )
        summary = Node(
            node_id=node.node_id,
            attempt=attempt,
            exit_code=result.exit_code,
            isolation=result.isolation,
            receipt=receipt,
        )
        execute.node_done(tx, node.run_id, node.node_count, summary)
    return NodeResult(
        node_id=summary["node_id"],
        attempt=summary["attempt"],
        exit_code=summary["exit_code"],
        isolation=summary["isolation"],
        receipt=summary["receipt"],
        result=result.as_dict(),
    )


def _node_failed(node: ExecNodeInput, attempt: int, message: str) -> NoReturn:
    """Fail this attempt of ExecuteST for one node; DBOS retries it up to `max_attempts`."""
    last = attempt >= node.max_attempts
    what = f"attempt {attempt} of {node.max_attempts} failed, {'giving up' if last else 'retrying'}"
    level = logging.WARNING if last else logging.INFO
    runlog.outcome(node.run_id, names.STEP_EXECUTE, f"{what}: {message}", level=level)
    raise NodeFailed(message)
