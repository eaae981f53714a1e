"""A gate's timeout survives a SIGKILL of the process that waits on it (issue 23).

A `script` run asks gate `go` with `timeout_s: 3` and a default answer, in a real
`jejakekal api` process (API and worker in one). About a second after the gate opened
the process is SIGKILLed and started again at once, under the same executor id, so it
recovers the run. The deadline DBOS recorded for the wait must hold: the timeout fires
once, at about second 3 after the gate opened (neither reset by the restart nor fired
at the kill), and the default answer is applied once. SQL is the oracle.

A restart on this shared 2-core machine takes 1.2-3.5 s to healthy (PostgreSQL the
slower), so it can end after the deadline: the timeout is then due at once, and fires
within the same slack of the restart being healthy. A reset deadline would fire a
full TIMEOUT_S after the restart, beyond either bound.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from jejakekal.drills.oracles import Oracles
from jejakekal.drills.processes import ApiProcess, DrillEnv, wait_for

TIMEOUT_S = 3
KILL_AFTER_S = 1.0
SLACK_S = 0.9  # recovery, the close step's commit and clock reads
GATE = {
    "key": "go",
    "question": "Run echo?",
    "timeout_s": TIMEOUT_S,
    "on_timeout": {"default": "approve"},
}


def _instant(value: Any) -> datetime:
    """A stored timestamp, aware: SQLite hands back naive text, PostgreSQL a datetime."""
    found = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def _start_gated_run(api: ApiProcess) -> str:
    body = {
        "goal": "gated",
        "inputs": {"commands": ["echo ok"], "gates": [GATE]},
        "constraints": {},
    }
    intent = api.post("/intents", body, expect=201)
    run = api.post(f"/intents/{intent['intentId']}/run", {"recipeName": "script"}, expect=202)
    return str(run["runId"])


def _gate(oracles: Oracles, run_id: str) -> dict[str, Any] | None:
    rows = oracles.rows(
        "SELECT status, opened_at, deadline_at, answer, origin FROM app.gates WHERE run_id = :id",
        id=run_id,
    )
    return rows[0] if rows else None


@pytest.mark.timeout(120)
def test_a_gate_timeout_fires_once_on_time_across_a_sigkill(
    database_url: str, tmp_path: Path
) -> None:
    env = DrillEnv(database_url, tmp_path, f"gate-drill-{uuid.uuid4().hex[:8]}", "drill", False)
    oracles = Oracles(database_url)
    with ApiProcess(env) as api:
        api.start()
        run_id = _start_gated_run(api)
        gate = wait_for(lambda: _gate(oracles, run_id), timeout=60, what="the gate to open")
        opened = _instant(gate["opened_at"])

        # Act: SIGKILL about a second into the wait, then start again at once.
        time.sleep(max(0.0, opened.timestamp() + KILL_AFTER_S - time.time()))
        api.kill9()
        killed_after = time.time() - opened.timestamp()
        still_open = _gate(oracles, run_id)
        restart_began = time.monotonic()
        api.restart()
        restart_s = time.monotonic() - restart_began
        healthy_after = time.time() - opened.timestamp()
        view = wait_for(
            lambda: (v := api.get(f"/runs/{run_id}"))["status"] in ("succeeded", "failed") and v,
            timeout=60,
            what="the run to end",
        )

    ledger = oracles.rows(
        "SELECT kind, origin, answer, at FROM app.gate_ledger WHERE run_id = :id ORDER BY at, id",
        id=run_id,
    )
    timed_out = [r for r in ledger if r["kind"] == "timed_out"]
    answered = [r for r in ledger if r["kind"] == "answered"]
    closed = _gate(oracles, run_id)
    assert closed is not None and still_open is not None
    workflow_id = oracles.run_workflow_id(run_id)
    assert workflow_id is not None
    fired_after = (_instant(timed_out[0]["at"]) - opened).total_seconds() if timed_out else None
    timing = (
        f"killed {killed_after:.2f}s after the gate opened, restart to healthy took "
        f"{restart_s:.2f}s, the timeout fired {fired_after}s after the gate opened"
    )
    latest = max(TIMEOUT_S, healthy_after) + SLACK_S

    assert api.kills == 1 and api.starts == 2
    assert still_open["status"] == "open", f"the gate closed before the kill: {timing}"
    assert 0.8 <= killed_after < 2.0, timing
    assert (_instant(closed["deadline_at"]) - opened).total_seconds() == TIMEOUT_S
    assert [r["kind"] for r in ledger] == ["opened", "timed_out", "answered"], ledger
    assert len(timed_out) == 1 and len(answered) == 1
    assert answered[0]["origin"] == "system"
    assert fired_after is not None and TIMEOUT_S - 0.2 <= fired_after <= latest, timing
    assert view["status"] == "succeeded", view
    assert closed["status"] == "answered" and closed["origin"] == "system"
    assert view["gates"][0]["answer"] == "approve"
    # The default answer was applied once: one gate close, one ExecuteST, one node run.
    assert oracles.operations(workflow_id).get("InputReceived:go") == 1
    assert oracles.child_statuses(run_id) == {"SUCCESS": 1}
    execute = oracles.steps(run_id)["ExecuteST"]
    assert execute["phase"] == "done" and execute["attempt"] == 1
    assert oracles.receipts(run_id) == 1 and oracles.duplicate_receipts() == 0
    assert oracles.artifacts(run_id).get("node-result") == 1
    effects = oracles.rows("SELECT count(*) AS n FROM app.effects WHERE run_id = :id", id=run_id)
    assert effects[0]["n"] == 1
