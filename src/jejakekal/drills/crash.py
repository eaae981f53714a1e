"""`drill crash` (README, "Drills") and `drill kill9`: SIGKILL a workflow mid-sleep, restart, judge.

Both kill the process while a `DBOS.sleep` is in progress, after a step has
committed. The restarted process (same executor id and version) recovers the
workflow at launch; it must finish with each step checkpointed, and each of its rows
written, exactly once.
"""

from __future__ import annotations

import uuid

from jejakekal.config import Settings
from jejakekal.domain import names
from jejakekal.drills.oracles import TERMINAL_DBOS
from jejakekal.drills.processes import DrillEnv, wait_for
from jejakekal.drills.runner import Drill, run_drill
from jejakekal.drills.verdict import Verdict

# The window between s1 and s2 (and a document run's sleep): longer than the time from
# seeing the first step's row to the kill, shorter than a restart plus a bit.
CRASH_SLEEP_SEC = 3.0
KILL9_SLEEP_MS = 3000
WAIT_STEP_SEC = 60.0
WAIT_END_SEC = 120.0


def crash(settings: Settings, db: str | None) -> Verdict:
    return run_drill("crash", settings, db, 6, _crash)


def kill9(settings: Settings, db: str | None) -> Verdict:
    return run_drill("kill9", settings, db, 6, _kill9)


def _crash(d: Drill) -> None:
    from jejakekal.workflows.crash_drill import STEP_S1, STEP_S2

    d.report.stage("starting the API process")
    d.api.start()
    workflow_id = f"crash-{uuid.uuid4().hex[:16]}"
    d.report.stage(f"enqueueing crash_drill {workflow_id}")
    _enqueue_crash_drill(d.env, workflow_id)
    d.report.stage("waiting for mark s1")
    wait_for(lambda: d.oracles.marks(workflow_id).get(STEP_S1), timeout=WAIT_STEP_SEC, what="s1")
    d.report.note(f"SIGKILL pid {d.api.pid} after mark s1")
    d.api.kill9()
    at_kill = d.oracles.marks(workflow_id)
    d.checks.expect(
        "killed_between_s1_and_s2",
        {"s1": at_kill.get(STEP_S1, 0), "s2": at_kill.get(STEP_S2, 0)},
        {"s1": 1, "s2": 0},
    )
    d.report.stage("restarting with the same executor id")
    d.api.restart()
    d.report.stage("waiting for the workflow to end")
    wait_for(
        lambda: d.oracles.workflow_status(workflow_id) in TERMINAL_DBOS,
        timeout=WAIT_END_SEC,
        what=f"{workflow_id} to end",
    )
    d.report.stage("checking the oracles")
    d.checks.expect("workflow_status", d.oracles.workflow_status(workflow_id), "SUCCESS")
    d.checks.expect("marks", d.oracles.marks(workflow_id), {STEP_S1: 1, STEP_S2: 1})
    d.checks.expect(
        "operations",
        d.oracles.operations(workflow_id),
        {STEP_S1: 1, names.OP_SLEEP: 1, STEP_S2: 1},
    )
    d.extra["workflow_id"] = workflow_id


def _enqueue_crash_drill(env: DrillEnv, workflow_id: str) -> None:
    """Enqueue as the product does (DBOSClient, queue intentQ, the product's version)."""
    from dbos import DBOSClient, DBOSPortableJSONSerializer, EnqueueOptions

    from jejakekal.storage.engine import dbos_url, normalise_url
    from jejakekal.workflows.crash_drill import WF_CRASH_DRILL, CrashDrillInput

    client = DBOSClient(
        system_database_url=dbos_url(normalise_url(env.database_url)),
        serializer=DBOSPortableJSONSerializer(),
    )
    options: EnqueueOptions = {
        "workflow_name": WF_CRASH_DRILL,
        "queue_name": names.INTENT_QUEUE,
        "workflow_id": workflow_id,
        "app_version": env.app_version,
    }
    try:
        request = CrashDrillInput(run_id=workflow_id, sleep_sec=CRASH_SLEEP_SEC)
        client.enqueue(options, request.model_dump())
    finally:
        client.destroy()


def _kill9(d: Drill) -> None:
    d.report.stage("starting the API process")
    d.api.start()
    d.report.stage(f"POST /runs (sleepMs={KILL9_SLEEP_MS})")
    source = f"# kill9 drill\n\nA document run killed mid-sleep ({uuid.uuid4().hex}).\n"
    started = d.api.post("/runs", {"source": source, "sleepMs": KILL9_SLEEP_MS}, expect=202)
    run_id = str(started["run_id"])
    d.extra["run_id"] = run_id
    d.report.stage("waiting for DBOS.sleep")
    wait_for(
        lambda: d.oracles.operations(run_id).get(names.OP_SLEEP),
        timeout=WAIT_STEP_SEC,
        what=f"{run_id} to sleep",
    )
    d.report.note(f"SIGKILL pid {d.api.pid} mid-sleep")
    d.api.kill9()
    at_kill = d.oracles.operations(run_id)
    d.checks.expect(
        "killed_mid_sleep",
        {step: at_kill.get(step, 0) for step in names.DOC_STEPS},
        {
            names.STEP_PREPARE: 1,
            names.OP_SLEEP: 1,
            names.STEP_SIDE_EFFECT: 0,
            names.STEP_FINALIZE: 0,
        },
    )
    d.report.stage("restarting with the same executor id")
    d.api.restart()
    d.report.stage("waiting for the run to end")
    wait_for(
        lambda: d.oracles.workflow_status(run_id) in TERMINAL_DBOS,
        timeout=WAIT_END_SEC,
        what=f"{run_id} to end",
    )
    d.report.stage("checking the oracles")
    ops = d.oracles.operations(run_id)
    d.checks.expect("operations", ops, {step: 1 for step in names.DOC_STEPS})
    d.checks.expect("workflow_status", d.oracles.workflow_status(run_id), "SUCCESS")
    d.checks.expect("run_status", d.oracles.run_status(run_id), "done")
    view = d.api.get(f"/runs/{run_id}")
    d.checks.expect(
        "run_view",
        {"status": view.get("status"), "dbos_status": view.get("dbos_status")},
        {"status": "done", "dbos_status": "SUCCESS"},
    )
    d.checks.expect(
        "artifacts", d.oracles.artifacts(run_id), {kind: 1 for kind in names.ARTIFACT_TYPES}
    )
