"""Step bodies of the intent workflow. Time, I/O and subprocesses live here."""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from dbos import DBOS

from jejakekal import runlog
from jejakekal.domain import names
from jejakekal.domain.compiler import apply_patch, canonical_json, compile_plan, sha256_text
from jejakekal.domain.contracts import ExecNodeInput, RunIntentInput
from jejakekal.domain.errors import DecisionInvalid, DecisionRejected, NodeFailed
from jejakekal.domain.ports import DecisionRequest, ExecNode
from jejakekal.domain.status import RunStatus
from jejakekal.storage import runs
from jejakekal.storage.effects import Db, call_idempotent_effect, deliver_receipt
from jejakekal.workflows.runtime import current


def compile_st(db: Db, request: dict[str, Any]) -> dict[str, Any]:
    inp = RunIntentInput.model_validate(request)
    started = runs.now()
    goal, inputs = inp.goal, inp.inputs
    if goal is None or inputs is None:
        intent = runs.get_intent(db, inp.intent_id)
        if intent is None:
            raise LookupError(f"intent {inp.intent_id} vanished")
        goal, inputs = intent["goal"], intent["inputs"]
    plan = compile_plan(goal, inputs, inp.recipe_name, inp.steps, inp.concurrency)
    output = {"attempt": 1, "plan_sha256": plan["plan_sha256"], "nodes": inp.steps}
    _step_done(
        db,
        inp.run_id,
        names.STEP_COMPILE,
        output,
        started,
        status=RunStatus.RUNNING,
        next_action=None,
    )
    return plan


def apply_patch_st(db: Db, run_id: str, plan: dict[str, Any]) -> dict[str, Any]:
    started = runs.now()
    state = apply_patch({}, plan["patch"])
    state_sha = sha256_text(canonical_json(state))
    output = {"attempt": 1, "ops": len(plan["patch"]), "state_sha256": state_sha}
    _step_done(db, run_id, names.STEP_APPLY_PATCH, output, started)
    return {"state_sha256": state_sha}


def decide_st(run_id: str, goal: str, plan: dict[str, Any], opens_execute: bool) -> dict[str, Any]:
    """Ask the decider (an external call: outside any transaction), then record it.

    The envelope's id is derived from run, step and the run's attempt (one more per
    retry): a retry that asks again keeps both envelopes, and a replay of this step
    after a crash between its commit and the checkpoint stores no second row.
    """
    rt = current()
    started = runs.now()
    request = DecisionRequest(
        run_id=run_id,
        goal=goal,
        plan_sha256=plan["plan_sha256"],
        nodes=[n["node_id"] for n in plan["workload"]["nodes"]],
    )
    try:
        envelope = rt.decider.decide(request)
    except DecisionInvalid as exc:
        what = f"the decider's answer is invalid: {exc}"
        runlog.outcome(run_id, names.STEP_DECIDE, what, level=logging.WARNING)
        raise
    rejected = envelope.response["action"] == "reject"
    with runs.write(rt.engine) as conn:
        attempt = runs.run_attempt(conn, run_id)
        output = {
            "attempt": attempt,
            "provider": envelope.provider,
            "action": envelope.response["action"],
        }
        runs.record_decision(
            conn,
            run_id,
            names.STEP_DECIDE,
            envelope.request,
            envelope.response,
            attempt=attempt,
        )
        if rejected:
            _step_done(
                conn,
                run_id,
                names.STEP_DECIDE,
                output,
                started,
                status=RunStatus.FAILED,
                error=f"decider rejected the plan: {envelope.response.get('reason', '')}",
                next_action=f"POST /runs/{run_id}/retry",
            )
        elif opens_execute:
            _record_done(conn, run_id, names.STEP_DECIDE, output, started)
            _open_execute(conn, run_id)  # moves last_step on to ExecuteST
        else:
            _step_done(conn, run_id, names.STEP_DECIDE, output, started)
    if rejected:
        reason = envelope.response.get("reason", "rejected")
        what = f"rejected on attempt {attempt}: {reason}"
        runlog.outcome(run_id, names.STEP_DECIDE, what, level=logging.WARNING)
        # Failing the step ends the workflow in ERROR; a retry re-enters at DecideST.
        raise DecisionRejected(reason)
    return envelope.response


def _step_done(
    db: Db, run_id: str, step_id: str, output: dict[str, Any], started: Any, **run: Any
) -> None:
    """Record a finished step and make it the run's last step, in the caller's transaction."""
    _record_done(db, run_id, step_id, output, started, last_step=step_id, **run)


def _record_done(
    db: Db, run_id: str, step_id: str, output: dict[str, Any], started: Any, **run: Any
) -> None:
    runs.record_step(
        db,
        run_id,
        step_id,
        phase="done",
        output=output,
        started_at=started,
        finished_at=runs.now(),
        **run,
    )


def await_input(db: Db, run_id: str) -> None:
    runs.update_run(
        db,
        run_id,
        status=RunStatus.WAITING_INPUT,
        next_action=f'POST /runs/{run_id}/events {{"type":"input","payload":{{...}}}}',
    )


def input_received(db: Db, run_id: str, answer: Any) -> None:
    _open_execute(db, run_id, status=RunStatus.RUNNING, next_action=None)


def _open_execute(db: Db, run_id: str, **run: Any) -> None:
    """ExecuteST starts with the transaction that ends what precedes it (no step of its own)."""
    runs.record_step(
        db,
        run_id,
        names.STEP_EXECUTE,
        phase="running",
        output={"attempt": None},
        started_at=runs.now(),
        finished_at=None,
        last_step=names.STEP_EXECUTE,
        **run,
    )


def node_done(db: Db, run_id: str, node_count: int, node: dict[str, Any]) -> None:
    """Record one node's outcome under ExecuteST; the last node to finish closes the step
    and the run, in the transaction that delivers its receipt.

    Nodes finish in any order, possibly at once: the step's row is locked first, so the
    last one sees every other node's entry. A replayed node replaces its own entry, so
    a run of one node has nothing to merge and reads nothing.
    """
    recorded: list[dict[str, Any]] = []
    if node_count > 1:
        output = runs.step_output_for_update(db, run_id, names.STEP_EXECUTE) or {}
        recorded = output.get("nodes") or []
    by_id = {n["node_id"]: n for n in recorded}
    by_id[node["node_id"]] = node
    # exec-2 before exec-10: node ids share their prefix, so length then text is plan order.
    nodes = [by_id[k] for k in sorted(by_id, key=lambda k: (len(k), k))]
    finished = len(nodes) >= node_count
    attempt = max(n["attempt"] for n in nodes) if finished else None
    output = {"attempt": attempt, "nodes": nodes}
    started = runs.now()  # kept from _open_execute: the row already exists
    if not finished:
        runs.record_step(
            db,
            run_id,
            names.STEP_EXECUTE,
            phase="running",
            output=output,
            started_at=started,
            finished_at=None,
        )
        return
    # Only a live run (a retried one is still `queued`): a cancel that landed first
    # keeps its word.
    runs.record_step(
        db,
        run_id,
        names.STEP_EXECUTE,
        phase="done",
        output=output,
        started_at=started,
        finished_at=runs.now(),
        only_if_status=tuple(s for s in RunStatus if s.is_live),
        status=RunStatus.SUCCEEDED,
        next_action=None,
        error=None,
    )


def execute_fail(db: Db, run_id: str, attempts: int, error: str) -> None:
    finished = (runs.step_output_for_update(db, run_id, names.STEP_EXECUTE) or {}).get("nodes")
    runs.record_step(
        db,
        run_id,
        names.STEP_EXECUTE,
        phase="failed",
        output={"attempt": attempts, "error": error, "nodes": finished or []},
        started_at=runs.now(),  # kept from _open_execute: the row already exists
        finished_at=runs.now(),
        status=RunStatus.RETRIES_EXCEEDED,
        error=error,
        next_action=f"POST /runs/{run_id}/retry",
    )
    what = f"{RunStatus.RETRIES_EXCEEDED} after {attempts} attempts"
    runlog.outcome(run_id, names.STEP_EXECUTE, what, level=logging.WARNING)


def execute_node_st(request: dict[str, Any]) -> dict[str, Any]:
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
    payload = {
        "run_id": node.run_id,
        "node_id": node.node_id,
        "stdout_sha256": result.hashes.get("stdout"),
    }
    with runs.write(rt.engine) as conn:
        receipt = call_idempotent_effect(
            conn, key, node.run_id, names.STEP_EXECUTE, lambda db: deliver_receipt(db, key, payload)
        )
        summary = {
            "node_id": node.node_id,
            "attempt": attempt,
            "exit_code": result.exit_code,
            "isolation": result.isolation,
            "receipt": receipt,
        }
        node_done(conn, node.run_id, node.node_count, summary)
    return {**summary, "result": result.as_dict()}


def _node_failed(node: ExecNodeInput, attempt: int, message: str) -> NoReturn:
    """Fail this attempt of ExecuteST for one node; DBOS retries it up to `max_attempts`."""
    last = attempt >= node.max_attempts
    what = f"attempt {attempt} of {node.max_attempts} failed, {'giving up' if last else 'retrying'}"
    level = logging.WARNING if last else logging.INFO
    runlog.outcome(node.run_id, names.STEP_EXECUTE, f"{what}: {message}", level=level)
    raise NodeFailed(message)
