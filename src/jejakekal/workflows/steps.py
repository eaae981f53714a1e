"""Step bodies of the intent workflow. Time, I/O and subprocesses live here.

Each records its step and the run's change through `storage.runs`, with the change
the life cycle names (`domain.lifecycle`); ExecuteST's record is `storage.execute`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import NotRequired, TypedDict, cast

from dbos import DBOS

from jejakekal import runlog
from jejakekal.domain import lifecycle, names, outputs
from jejakekal.domain.canonical import canonical_json
from jejakekal.domain.compiler import (
    apply_patch,
    build_plan,
    reply_from_json,
    reply_json,
    sha256_text,
)
from jejakekal.domain.contracts import ExecNodeInput, RunIntentInput
from jejakekal.domain.errors import (
    DecisionInvalid,
    DecisionRejected,
    ModelUnavailable,
    NodeFailed,
    PlanInvalid,
)
from jejakekal.domain.execute import Node, Receipt
from jejakekal.domain.gates import (
    DefaultAnswer,
    Gate,
    LedgerKind,
    Origin,
    Outcome,
    Said,
    rejects,
)
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.lifecycle import RunChange
from jejakekal.domain.plan import Plan
from jejakekal.domain.ports import (
    ISOLATING,
    Decision,
    DecisionRequest,
    ExecNode,
    ExecResult,
    ExecResultJson,
    Observation,
    Planner,
    PlannerReply,
    PlanRequest,
)
from jejakekal.domain.records import StepPhase, StepRecord
from jejakekal.storage import documents, effects, execute, runs
from jejakekal.storage import gates as gate_store
from jejakekal.storage.database import Tx
from jejakekal.storage.effects import call_idempotent_effect, deliver_receipt
from jejakekal.workflows.runtime import Runtime, current


class PatchResult(TypedDict):
    state_sha256: str


class NodeResult(Node):
    """ExecuteST's checkpoint for one node: its summary and the sandbox's result (the
    streams' tails: the artifacts keep them whole). `failure` when the node gave up."""

    result: ExecResultJson
    failure: NotRequired[str]


def _intent(inp: RunIntentInput) -> tuple[str, JsonObject]:
    if inp.goal is not None and inp.inputs is not None:
        return inp.goal, inp.inputs
    # A run started before run inputs carried the intent.
    with current().db.read() as tx:
        intent = runs.get_intent(tx, inp.intent_id)
    if intent is None:
        raise LookupError(f"intent {inp.intent_id} vanished")
    return intent.goal, intent.inputs


def compile_st(
    request: JsonObject, iteration: int = 1, observed: list[JsonObject] | None = None
) -> JsonObject:
    """Ask the recipe's planner for the next wave; the checkpoint is the plan's JSON
    (`Plan.checkpoint`), with `answer` set when the planner is done."""
    inp = RunIntentInput.model_validate(request)
    rt = current()
    spec = inp.spec
    step_id = names.iterated(names.STEP_COMPILE, iteration)
    started = runs.now()
    goal, inputs = _intent(inp)
    ask = PlanRequest(
        run_id=inp.run_id,
        goal=goal,
        inputs=inputs,
        recipe_name=inp.recipe_name,
        iteration=iteration,
        observations=tuple(Observation(**o) for o in observed or []),  # type: ignore[arg-type]
        steps=inp.steps,
    )
    reply = _planner_reply(rt, rt.planners[spec.planner], ask, step_id)
    plan = build_plan(
        goal,
        inputs,
        inp.recipe_name,
        reply,
        concurrency=inp.concurrency,
        iteration=iteration,
        approval=spec.approval == "plan",
    )
    nodes = plan.workload.nodes
    if spec.runs_foreign_commands and len(nodes) > spec.max_commands:
        error = f"{step_id}: the plan has {len(nodes)} nodes, the recipe allows {spec.max_commands}"
        _fail_step(rt, inp.run_id, step_id, error)
        raise PlanInvalid(error)
    output = {
        "attempt": 1,
        "plan_sha256": plan.plan_sha256,
        "nodes": len(nodes),
        "planner": spec.planner,
        "compiler": plan.compiler,
        "plan": [
            {"node_id": n.node_id, "argv": n.argv, **({"purpose": n.purpose} if n.purpose else {})}
            for n in nodes
        ],
        **({"answer": plan.answer} if plan.done else {}),
    }
    with rt.db.write() as tx:
        _step_done(tx, inp.run_id, step_id, output, started, lifecycle.compiled(step_id))
    return plan.checkpoint()


def _planner_reply(rt: Runtime, planner: Planner, ask: PlanRequest, step_id: str) -> PlannerReply:
    """The planner's reply, through the effect ledger when a model answers it: a replay
    after a crash reads the recorded reply instead of calling again."""
    if planner.name in ("stub", "script"):
        return planner.plan(ask)  # deterministic, and calls nothing
    run_id = ask.run_id
    with rt.db.read() as tx:
        attempt = runs.run_attempt(tx, run_id)
        key = f"{run_id}:{step_id}:plan:{attempt}"
        found, recorded = effects.recorded_effect(tx, key)
    if found:
        return reply_from_json(recorded)
    try:
        reply = planner.plan(ask)
    except PlanInvalid as exc:
        error = f"{step_id}: the planner's answer is not a valid plan: {exc.message}"
        with rt.db.write() as tx:
            runs.record_model_call(
                tx,
                run_id,
                step_id,
                {"goal": ask.goal, "iteration": ask.iteration},
                {"error": exc.message, "raw_reply": exc.raw_reply},
                attempt,
            )
            runs.change_run(tx, run_id, lifecycle.step_failed(step_id, error))
        runlog.outcome(run_id, step_id, error, level=logging.WARNING)
        raise PlanInvalid(error, raw_reply=exc.raw_reply) from exc
    except ModelUnavailable as exc:
        _unavailable(rt, run_id, step_id, exc)
        raise
    stored = reply_json(reply)
    with rt.db.write() as tx:
        stored = effects.record_effect(tx, key, run_id, step_id, stored)
        if reply.call is not None:
            response: JsonObject = {
                "provider": reply.call.provider,
                "raw_reply": reply.call.raw_reply,
            }
            runs.record_model_call(tx, run_id, step_id, reply.call.request, response, attempt)
    return reply_from_json(stored)


def _unavailable(rt: Runtime, run_id: str, step_id: str, exc: ModelUnavailable) -> None:
    """On the step's last attempt, say in the run why it gives up (DBOS retries before)."""
    status = DBOS.step_status
    attempt = (status.current_attempt or 0) + 1 if status else 1
    attempts = rt.settings.step_max_attempts
    if attempt >= attempts:
        error = f"{step_id}: the model endpoint failed {attempts} times: {exc.message}"
        _fail_step(rt, run_id, step_id, error)


def _fail_step(rt: Runtime, run_id: str, step_id: str, error: str) -> None:
    with rt.db.write() as tx:
        runs.change_run(tx, run_id, lifecycle.step_failed(step_id, error))
    runlog.outcome(run_id, step_id, error, level=logging.WARNING)


def apply_patch_st(tx: Tx, run_id: str, plan: Plan) -> PatchResult:
    started = runs.now()
    state = apply_patch({}, plan.patch)
    state_sha = sha256_text(canonical_json(state))
    output = {"attempt": 1, "ops": len(plan.patch), "state_sha256": state_sha}
    step_id = names.iterated(names.STEP_APPLY_PATCH, plan.iteration or 1)
    _step_done(tx, run_id, step_id, output, started)
    return PatchResult(state_sha256=state_sha)


def decide_st(run_id: str, plan: Plan, opens_execute: bool) -> Decision:
    """Ask the decider (an external call: outside any transaction), then record it.

    The envelope's id is derived from run, step and the run's attempt (one more per
    retry): a retry that asks again keeps both envelopes, and a replay of this step
    after a crash between its commit and the checkpoint stores no second row.
    """
    rt = current()
    started = runs.now()
    iteration = plan.iteration or 1
    step_id = names.iterated(names.STEP_DECIDE, iteration)
    request = DecisionRequest(
        run_id=run_id, goal=plan.goal, plan_sha256=plan.plan_sha256, nodes=plan.node_ids
    )
    try:
        envelope = rt.decider.decide(request)
    except DecisionInvalid as exc:
        error = f"{step_id}: the decider's answer is invalid: {exc.message}"
        _fail_step(rt, run_id, step_id, error)
        raise
    except ModelUnavailable as exc:
        _unavailable(rt, run_id, step_id, exc)
        raise
    action = envelope.response["action"]
    with rt.db.write() as tx:
        attempt = runs.run_attempt(tx, run_id)
        output = {"attempt": attempt, "provider": envelope.provider, "action": action}
        runs.record_decision(
            tx, run_id, step_id, envelope.request, envelope.response, attempt=attempt
        )
        if action == "reject":
            rejected = lifecycle.rejected(envelope.response.get("reason", ""), step_id)
            _step_done(tx, run_id, step_id, output, started, rejected)
        elif opens_execute:
            runs.record_step(tx, _done(run_id, step_id, output, started))
            # Moves last_step on to ExecuteST.
            execute.open_step(
                tx, run_id, after_input=False, step_id=names.iterated(names.STEP_EXECUTE, iteration)
            )
        else:
            _step_done(tx, run_id, step_id, output, started)
    if action == "reject":
        reason = envelope.response.get("reason", "rejected")
        what = f"rejected on attempt {attempt}: {reason}"
        runlog.outcome(run_id, step_id, what, level=logging.WARNING)
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


class GateOpened(TypedDict):
    """A gate's opening checkpoint: its row, and its deadlines as epoch seconds."""

    gate_id: str
    deadline: float | None
    escalate_at: float | None


class GateClosed(TypedDict):
    """How a gate closed (`gates.Outcome`); `error` when that ends the run."""

    outcome: str
    error: NotRequired[str]


def gate_opened(tx: Tx, run_id: str, spec: JsonObject, iteration: int, op: str) -> GateOpened:
    """The run waits: the gate's row and ledger entry, its deadline fixed now."""
    gate = Gate.model_validate(spec)
    opened = runs.now()
    gate_id = f"{run_id}:{op}"

    def after(seconds: float | None) -> datetime | None:
        return None if seconds is None else opened + timedelta(seconds=seconds)

    deadline = after(gate.timeout_s)
    gate_store.open_gate(
        tx,
        gate_id=gate_id,
        run_id=run_id,
        gate=gate,
        iteration=iteration,
        opened_at=opened,
        deadline_at=deadline,
    )
    runs.change_run(tx, run_id, lifecycle.awaiting_input())
    escalate = after(gate.escalate_after_s)
    return GateOpened(
        gate_id=gate_id,
        deadline=deadline.timestamp() if deadline else None,
        escalate_at=escalate.timestamp() if escalate else None,
    )


def seconds_until(epoch: float) -> float:
    """What is left of a gate's wait (a replayed wait keeps its first deadline)."""
    return max(0.0, epoch - runs.now().timestamp())


def gate_escalated(tx: Tx, run_id: str, spec: JsonObject, gate_id: str, deadline: float) -> float:
    """The gate is still unanswered at its escalation time: a ledger row and a warning;
    returns the seconds left before its deadline."""
    gate = Gate.model_validate(spec)
    at = runs.now()
    gate_store.escalate(tx, gate_id, at)
    gate_store.ledger(tx, gate_id, run_id, gate, LedgerKind.ESCALATED, at=at)
    runlog.outcome(
        run_id, gate_id.removeprefix(f"{run_id}:"), "gate escalated", level=logging.WARNING
    )
    return max(0.0, deadline - at.timestamp())


def gate_closed(
    tx: Tx,
    run_id: str,
    spec: JsonObject,
    opened: GateOpened | None,
    timed_out: bool,
    execute_step: str | None,
) -> GateClosed:
    """Close the gate: an answer arrived (its row says which), or the deadline passed and
    `on_timeout` applies. A rejection or a timeout without a default ends the run
    `failed`; otherwise, after the last gate, ExecuteST opens (`execute_step`)."""
    gate = Gate.model_validate(spec)
    if opened is None:
        # A run of release 3 that waited in `AwaitInput` before gates had rows.
        if execute_step is not None:
            execute.open_step(tx, run_id, after_input=True, step_id=execute_step)
        return GateClosed(outcome=Outcome.ANSWERED)
    gate_id = opened["gate_id"]
    at = runs.now()
    if timed_out and not isinstance(gate.on_timeout, DefaultAnswer):
        # Unless an answer committed just before the deadline closed the gate.
        if gate_store.settle(tx, gate_id, Outcome.TIMED_OUT, at=at):
            gate_store.ledger(tx, gate_id, run_id, gate, LedgerKind.TIMED_OUT, at=at)
            verb = "rejected on timeout" if gate.on_timeout == "reject" else "timed out"
            error = f"gate {gate.key!r} {verb} after {gate.timeout_s:g}s"
            return _gate_failed(tx, run_id, gate, error)
    elif timed_out:
        _apply_default(tx, run_id, gate, gate_id, at)
    row = gate_store.get(tx, gate_id)
    assert row is not None
    if row.status == Outcome.REJECTED:
        reason = f": {row.reason}" if row.reason else ""
        return _gate_failed(tx, run_id, gate, f"gate {gate.key!r} rejected by {row.actor}{reason}")
    if execute_step is not None:
        execute.open_step(tx, run_id, after_input=True, step_id=execute_step)
    return GateClosed(outcome=Outcome.ANSWERED)


def _apply_default(tx: Tx, run_id: str, gate: Gate, gate_id: str, at: datetime) -> None:
    """The deadline passed: the gate takes its default answer, as the ledger says."""
    assert isinstance(gate.on_timeout, DefaultAnswer)
    answer = gate.on_timeout.default
    status = Outcome.REJECTED if rejects(gate, answer) else Outcome.ANSWERED
    said = Said(answer, "timeout", Origin.SYSTEM.value, reason="the default answer")
    if not gate_store.settle(tx, gate_id, status, at=at, said=said):
        return  # an answer committed just before the deadline closed the gate
    gate_store.ledger(tx, gate_id, run_id, gate, LedgerKind.TIMED_OUT, at=at)
    # A microsecond later: the ledger reads in time order, the timeout first.
    later = at + timedelta(microseconds=1)
    gate_store.ledger(tx, gate_id, run_id, gate, LedgerKind.ANSWERED, at=later, said=said)
    runs.change_run(tx, run_id, lifecycle.gate_closed_by_timeout())


def _gate_failed(tx: Tx, run_id: str, gate: Gate, error: str) -> GateClosed:
    runs.change_run(tx, run_id, lifecycle.gate_failed(error))
    runlog.outcome(run_id, f"gate {gate.key}", f"failed: {error}", level=logging.WARNING)
    return GateClosed(outcome=Outcome.REJECTED, error=error)


def execute_fail(
    tx: Tx, run_id: str, attempts: int, error: str, step_id: str = names.STEP_EXECUTE
) -> None:
    execute.fail(tx, run_id, attempts, error, step_id)
    # The log line names the step already: "run R ExecuteST: retries_exceeded: node ...".
    what = f"{lifecycle.RunStatus.RETRIES_EXCEEDED}: {error.removeprefix(f'{step_id}: ')}"
    runlog.outcome(run_id, step_id, what, level=logging.WARNING)


def execute_node_st(request: JsonObject) -> NodeResult:
    """One execution node: run it in the sandbox, keep its outputs as artifacts, and
    deliver its receipt exactly once.

    A failure DBOS should retry raises; on the last attempt, and for a failure not worth
    retrying (a command's own non-zero exit, unless the recipe retries those), the node
    gives up by returning `failure`, and its child workflow fails with that message.
    """
    node = ExecNodeInput.model_validate(request)
    status = DBOS.step_status
    attempt = (status.current_attempt or 0) + 1 if status else 1
    last = attempt >= node.max_attempts
    rt = current()
    key = f"{node.run_id}:{node.step_id}:{node.node_id}"
    with rt.db.read() as tx:
        finished, attempts_run = documents.node_history(tx, node.run_id, node.node_id, key)
    if finished:
        # Its transaction committed before a crash took the checkpoint: not run again.
        return _finished_before(rt, node)
    if node.fail_mode == "always" or (node.fail_mode == "first" and attempt == 1):
        lane = "fail" if node.fail_mode == "always" else "flaky"
        message = (
            f"{node.step_id}: node {node.node_id} failed on purpose (the goal's "
            f"`{lane}` lane) after {attempt} attempt{'s' if attempt != 1 else ''}"
        )
        return _node_failed(node, attempt, message, retryable=not last)
    if (
        node.isolated_only
        and rt.sandbox.isolation != ISOLATING
        and not rt.settings.allow_unisolated
    ):
        message = (
            f"{node.step_id}: node {node.node_id} was not run: no isolating sandbox "
            f"(bubblewrap) is usable here, and JEJAKEKAL_ALLOW_UNISOLATED is not set"
        )
        return _node_failed(node, attempt, message, retryable=False)
    try:
        result = rt.sandbox.execute(
            ExecNode(
                node_id=node.node_id,
                argv=node.argv,
                env=node.env,
                timeout_sec=node.timeout_sec,
                files=node.files,
                output_cap_bytes=node.output_cap_bytes,
                max_out_files=node.max_out_files,
                max_out_file_bytes=node.max_out_file_bytes,
            )
        )
    except (OSError, ValueError, RuntimeError) as exc:
        # The sandbox could not run the node at all (a workspace it could not make, a
        # file it refused): a fault of the sandbox, retried like one.
        message = f"{node.step_id}: node {node.node_id} could not be run by the sandbox: {exc}"
        return _node_failed(node, attempt, message, retryable=not last)
    ok = result.exit_code == 0
    with rt.db.write() as tx:
        made, chunks = outputs.node_artifacts(
            node.run_id,
            node.step_id,
            node.node_id,
            attempts_run + 1,
            node.argv,
            result,
            node.output_cap_bytes,
        )
        documents.insert_node_outputs(tx, node.run_id, made, chunks)
        if ok:
            summary = _deliver(tx, node, key, attempt, result)
    if not ok:
        retryable = result.fault is not None or node.retry_nonzero
        message = outputs.failure_message(node.step_id, node.node_id, result, attempt)
        return _node_failed(node, attempt, message, retryable=retryable and not last, result=result)
    return _node_result(summary, _checkpointed(result))


def _node_result(summary: Node, result: ExecResultJson) -> NodeResult:
    return NodeResult(
        node_id=summary["node_id"],
        attempt=summary["attempt"],
        exit_code=summary["exit_code"],
        isolation=summary["isolation"],
        receipt=summary["receipt"],
        result=result,
    )


def _deliver(tx: Tx, node: ExecNodeInput, key: str, attempt: int, result: ExecResult) -> Node:
    """The receipt, once per node, and the node's place in its ExecuteST (which the last
    node of the wave closes)."""
    payload: JsonObject = {
        "run_id": node.run_id,
        "node_id": node.node_id,
        "stdout_sha256": result.hashes.get("stdout"),
    }
    receipt = call_idempotent_effect(
        tx, key, node.run_id, node.step_id, lambda db: deliver_receipt(db, key, payload)
    )
    summary = Node(
        node_id=node.node_id,
        attempt=attempt,
        exit_code=result.exit_code,
        isolation=result.isolation,
        receipt=receipt,
    )
    execute.node_done(
        tx,
        node.run_id,
        node.node_count,
        summary,
        step_id=node.step_id,
        closes_run=node.closes_run,
    )
    return summary


def _finished_before(rt: Runtime, node: ExecNodeInput) -> NodeResult:
    """The recorded summary of a node whose receipt is in the ledger."""
    with rt.db.read() as tx:
        recorded = runs.step_output(tx, node.run_id, node.step_id) or {}
    entries = recorded.get("nodes")
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("node_id") == node.node_id:
            summary = cast(Node, entry)
            return _node_result(summary, _recorded_result(summary))
    raise LookupError(f"{node.node_id}: its receipt is recorded but ExecuteST lists no result")


def _recorded_result(summary: Node) -> ExecResultJson:
    return ExecResultJson(
        exit_code=summary["exit_code"],
        stdout="",
        stderr="",
        files={},
        duration_ms=0.0,
        isolation=summary["isolation"],
        timed_out=False,
        hashes={},
        process_bound="",
    )


def _checkpointed(result: ExecResult) -> ExecResultJson:
    """The result as the checkpoint keeps it: the streams' tails (artifacts keep the rest)."""
    data = result.as_dict()
    data["stdout"] = outputs.tail(result.stdout)
    data["stderr"] = outputs.tail(result.stderr)
    return data


def _node_failed(
    node: ExecNodeInput,
    attempt: int,
    message: str,
    *,
    retryable: bool,
    result: ExecResult | None = None,
) -> NodeResult:
    """Fail this attempt: raise for DBOS to retry it, or give up with `failure`."""
    then = "retrying" if retryable else "giving up"
    what = f"attempt {attempt} of {node.max_attempts} failed, {then}"
    level = logging.INFO if retryable else logging.WARNING
    runlog.outcome(node.run_id, node.step_id, f"{what}: {message}", level=level)
    if retryable:
        raise NodeFailed(message)
    summary = Node(
        node_id=node.node_id,
        attempt=attempt,
        exit_code=result.exit_code if result else -1,
        isolation=result.isolation if result else "none",
        receipt=Receipt(receipt_key="", accepted_at=""),
    )
    gave_up = _node_result(summary, _checkpointed(result) if result else _recorded_result(summary))
    gave_up["failure"] = message
    return gave_up


def observe_st(
    tx: Tx, run_id: str, step_id: str, plan: Plan, results: list[NodeResult]
) -> list[JsonObject]:
    """ObserveST: what the wave did, as the planner will see it (tails and hashes)."""
    started = runs.now()
    argv = {n.node_id: n.argv for n in plan.workload.nodes}
    observed: list[JsonObject] = []
    for r in results:
        res = r["result"]
        observed.append(
            {
                "node_id": r["node_id"],
                "argv": argv.get(r["node_id"], []),
                "exit_code": r["exit_code"],
                "fault": res.get("fault"),
                "stdout_tail": outputs.tail(res["stdout"], 2048),
                "stdout_sha256": res["hashes"].get("stdout", ""),
                "stderr_tail": outputs.tail(res["stderr"], 2048),
                "stderr_sha256": res["hashes"].get("stderr", ""),
                "out_files": {p: h for p, h in res["files"].items() if p.startswith("out/")},
            }
        )
    summary = [
        {k: o[k] for k in ("node_id", "exit_code", "fault", "stdout_sha256", "stderr_sha256")}
        for o in observed
    ]
    _step_done(tx, run_id, step_id, {"attempt": 1, "observed": summary}, started)
    return observed


def answer_st(tx: Tx, run_id: str, step_id: str, answer: str) -> None:
    """AnswerST: the planner is done; its answer becomes the run's `answer` artifact."""
    started = runs.now()
    content = answer.encode()
    prov: outputs.NodeProvenance = {
        "step": step_id,
        "producer_function_id": None,
        "node_id": "",
        "attempt": 1,
        "argv_sha256": "",
        "inputs": [],
        "path": None,
    }
    artifact = outputs.NodeArtifact(
        artifact_id=f"{run_id}:answer",
        type="answer",
        content=content,
        content_type="text/plain; charset=utf-8",
        sha256=outputs.sha256_bytes(content),
        prov=prov,
    )
    if documents.artifact_json(tx, artifact.artifact_id) is None:
        documents.insert_node_outputs(tx, run_id, [artifact], [])
    output = {"attempt": 1, "answer_sha256": artifact.sha256}
    _step_done(tx, run_id, step_id, output, started, lifecycle.succeeded(step_id))


def loop_exhausted(tx: Tx, run_id: str, iterations: int) -> None:
    error = (
        f"the planner gave no answer within {iterations} iterations "
        "(the recipe's agent.max_iterations)"
    )
    runs.change_run(tx, run_id, lifecycle.step_failed(names.OP_LOOP_EXHAUSTED, error))
    runlog.outcome(run_id, names.OP_LOOP_EXHAUSTED, error, level=logging.WARNING)
