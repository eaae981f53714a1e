"""`drill chaos`, `drill soak` and `drill sandbox-soak`: intent runs under fire.

chaos: an intent run in the compiler's `slow` lane (each execution node sleeps in the
sandbox), SIGKILLed while its nodes execute, restarted; it must succeed with every step
at attempt 1 and no receipt delivered twice. soak: that, N times over one home and
database. sandbox-soak: one run fanning N nodes out on sandboxQ, all of which must
complete, each delivering its receipt exactly once.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from jejakekal.config import Settings
from jejakekal.domain import names
from jejakekal.domain.execute import Node
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.lifecycle import RunStatus
from jejakekal.drills.oracles import TERMINAL_DBOS, StepRow
from jejakekal.drills.processes import ApiProcess, wait_for
from jejakekal.drills.runner import Drill, run_drill
from jejakekal.drills.verdict import Checks, Verdict

# `slow` selects the compiler's lane whose nodes sleep; no word here selects another lane.
CHAOS_GOAL = "chaos drill: slow execution nodes, worker killed mid-flight"
CHAOS_NODES = 2  # run side by side, so the kill lands while both execute
CHAOS_WORKLOAD = {"concurrency": CHAOS_NODES, "steps": CHAOS_NODES, "sandboxMinutes": 1}
SOAK_GOAL = "sandbox soak drill"
SANDBOX_RECIPE = "sandbox-default"
TERMINAL = frozenset(status.value for status in RunStatus if status.is_terminal)
WAIT_STEP_SEC = 60.0
WAIT_END_SEC = 120.0


@dataclass(frozen=True)
class Round:
    """One round of `drill soak`."""

    number: int
    run_id: str
    checks: Checks
    seconds: float


def chaos(settings: Settings, db: str | None) -> Verdict:
    def body(d: Drill) -> None:
        d.report.stage("starting the API process")
        d.api.start()
        d.report.stage("chaos round")
        run_id = _start_run(d.api, CHAOS_GOAL, {"workload": CHAOS_WORKLOAD})
        d.extra["run_id"] = run_id
        d.checks.results.update(chaos_round(d, run_id).results)
        d.checks.expect("duplicate_receipts", d.oracles.duplicate_receipts(), 0)

    return run_drill("chaos", settings, db, 2, body)


def soak(settings: Settings, db: str | None, n: int) -> Verdict:
    def body(d: Drill) -> None:
        d.report.describe("starting the API process")
        d.api.start()
        rounds: list[Round] = []
        for i in range(1, n + 1):
            d.report.describe(f"round {i}/{n}")
            began = time.monotonic()
            run_id = "-"
            try:
                run_id = _start_run(d.api, CHAOS_GOAL, {"workload": CHAOS_WORKLOAD})
                checks = chaos_round(d, run_id)
            except Exception as exc:  # the process or the database gave out: stop here
                checks = Checks()
                reason = f"{type(exc).__name__}: {exc}"
                checks.record("completed", False, actual=reason, expected="the round ends")
            seconds = round(time.monotonic() - began, 2)
            rounds.append(Round(i, run_id, checks, seconds))
            d.report.advance()
            if not checks.ok:
                d.report.note(f"[red]round {i} ({run_id}) failed: {', '.join(checks.failed)}")
            if "completed" in checks.results:
                break
        _summarise_rounds(d, rounds)
        d.checks.expect("rounds_ok", sum(1 for r in rounds if r.checks.ok), n)
        d.checks.expect("duplicate_receipts", d.oracles.duplicate_receipts(), 0)

    return run_drill("soak", settings, db, n, body)


def chaos_round(d: Drill, run_id: str) -> Checks:
    """Kill the intent run `run_id` during ExecuteST, recover it, and judge it."""
    checks = Checks()
    api, oracles = d.api, d.oracles
    node = f"{run_id}:exec-1"
    d.report.describe(f"{run_id}: waiting for ExecuteST")
    wait_for(
        lambda: oracles.workflow_status(node) == "PENDING",
        timeout=WAIT_STEP_SEC,
        what=f"{node} to execute",
    )
    pid = api.pid
    api.kill9()
    # Read after the kill, when nothing moves: proof that the kill landed mid-ExecuteST.
    execute = oracles.steps(run_id).get(names.STEP_EXECUTE)
    checks.expect(
        "killed_during_execute",
        {
            "run": oracles.run_status(run_id),
            "ExecuteST": execute["phase"] if execute else None,
            "node": oracles.workflow_status(node),
        },
        {"run": "running", "ExecuteST": "running", "node": "PENDING"},
    )
    d.report.describe(f"{run_id}: SIGKILLed pid {pid}, restarting")
    api.restart()
    d.report.describe(f"{run_id}: waiting for the run to end")
    wait_for(
        lambda: _ended(d, run_id),
        timeout=WAIT_END_SEC,
        what=f"{run_id} to end",
    )
    _check_finished_run(checks, d, run_id, CHAOS_NODES)
    steps = oracles.steps(run_id)
    rows = {step: steps.get(step) for step in names.INTENT_STEPS}
    checks.expect(
        "step_attempts",
        {step: row["attempt"] if row else None for step, row in rows.items()},
        {step: 1 for step in names.INTENT_STEPS},
    )
    checks.expect(
        "step_phases",
        {step: row["phase"] if row else None for step, row in rows.items()},
        dict.fromkeys(names.INTENT_STEPS, "done"),
    )
    node_attempts = [n.get("attempt") for n in _execute_nodes(steps)]
    checks.expect("node_attempts", node_attempts, [1] * CHAOS_NODES)
    return checks


def sandbox_soak(settings: Settings, db: str | None, n: int) -> Verdict:
    def body(d: Drill) -> None:
        d.report.describe("starting the API process")
        d.api.start()
        workload = {"concurrency": min(20, n), "steps": n, "sandboxMinutes": 1}
        run_id = _start_run(d.api, SOAK_GOAL, {"recipeName": SANDBOX_RECIPE, "workload": workload})
        d.extra["run_id"] = run_id
        d.report.describe(f"{run_id}: {n} nodes")

        def finished() -> bool:
            d.report.set_completed(d.oracles.child_statuses(run_id).get("SUCCESS", 0))
            return _ended(d, run_id)

        # Generous for a slow machine: a node is a subprocess, 20 at a time.
        wait_for(finished, timeout=WAIT_END_SEC + 2.0 * n, what=f"{run_id} to end", interval=0.2)
        _check_finished_run(d.checks, d, run_id, n)
        steps = d.oracles.steps(run_id)
        nodes = _execute_nodes(steps)
        d.checks.expect("nodes_completed", len(nodes), n)
        failed = [node["node_id"] for node in nodes if node.get("exit_code") != 0]
        d.checks.expect("nodes_exit_nonzero", failed, [])
        d.checks.expect("duplicate_receipts", d.oracles.duplicate_receipts(), 0)

    return run_drill("sandbox-soak", settings, db, n, body)


def _start_run(api: ApiProcess, goal: str, run_body: JsonObject) -> str:
    intent = api.post("/intents", {"goal": goal, "inputs": {}, "constraints": {}}, expect=201)
    started = api.post(f"/intents/{intent['intentId']}/run", run_body, expect=202)
    return str(started["runId"])


def _ended(d: Drill, run_id: str) -> bool:
    """Both records final: the run row is written by the workflow's last step, and the
    workflow's own status only after that step returns."""
    if d.oracles.run_status(run_id) not in TERMINAL:
        return False
    workflow_id = d.oracles.run_workflow_id(run_id) or run_id
    return d.oracles.workflow_status(workflow_id) in TERMINAL_DBOS


def _check_finished_run(checks: Checks, d: Drill, run_id: str, nodes: int) -> None:
    """A finished intent run: succeeded, SUCCESS, every node SUCCESS with one receipt."""
    checks.expect("run_status", d.oracles.run_status(run_id), "succeeded")
    workflow_id = d.oracles.run_workflow_id(run_id) or run_id
    checks.expect("workflow_status", d.oracles.workflow_status(workflow_id), "SUCCESS")
    checks.expect("node_workflows", d.oracles.child_statuses(run_id), {"SUCCESS": nodes})
    checks.expect("receipts", d.oracles.receipts(run_id), nodes)


def _execute_nodes(steps: dict[str, StepRow]) -> list[Node]:
    """ExecuteST's nodes, as its output records them (`domain/execute.py`, `Output`)."""
    execute = steps.get(names.STEP_EXECUTE)
    output = (execute["output"] if execute else None) or {}
    nodes: list[Node] = output.get("nodes") or []
    return nodes


def _summarise_rounds(d: Drill, rounds: list[Round]) -> None:
    """One check per oracle over all rounds, and a summary of the rounds."""
    names_seen: dict[str, None] = {}
    for r in rounds:
        names_seen.update(dict.fromkeys(r.checks.results))
    total = len(rounds)
    for name in names_seen:
        passed = [
            r.number for r in rounds if name in r.checks.results and r.checks.results[name]["ok"]
        ]
        d.checks.record(
            name, len(passed) == total, actual=f"{len(passed)}/{total}", expected=f"{total}/{total}"
        )
    seconds = [r.seconds for r in rounds]
    d.extra["rounds"] = {
        "n": total,
        "ok": sum(1 for r in rounds if r.checks.ok),
        "failed": [
            {"round": r.number, "run_id": r.run_id, "checks": r.checks.failed}
            for r in rounds
            if not r.checks.ok
        ],
        "seconds": {
            "min": min(seconds, default=0),
            "median": round(statistics.median(seconds), 2) if seconds else 0,
            "max": max(seconds, default=0),
        },
    }
