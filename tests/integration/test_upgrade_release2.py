"""Upgrade: this code recovers the runs a killed process of release c7734f8 left in flight.

`tests/fixtures/release2.sqlite` is the database of that release's `jejakekal api`,
killed with SIGKILL (how, and how to remake it: tests/fixtures/make_release2.py) while
an intent run waited for a human's input, an intent run was inside ExecuteST (node
exec-1 done and its receipt delivered, exec-2's child workflow PENDING between two
attempts) and a document run slept in its durable sleep; a finished intent run and a
finished document run sit beside them. Nothing was closed cleanly: the executor id
`local` still names the dead process, whose heartbeat the maker let go stale.

The test copies the file, starts this code's `jejakekal api` on the copy in its own
process (it claims `local` and recovers that id's runs) and drives every run to its end.
The oracle is the fixture itself, read in SQL: no step runs twice (DBOS's operation rows,
`app.run_steps`, the effect ledger and the mock receipts), and what had finished stays
as it was. Only the HTTP API, the CLI and SQL: SQLite only, as the fixture is SQLite.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import api_on_old_database, wait_run_status

FIXTURE = Path(__file__).parent.parent / "fixtures" / "release2.sqlite"
CLI = [sys.executable, "-m", "jejakekal.cli.main"]
# The dead-after bound of a silent executor id (5 s in c7734f8); the maker waits past it.
DEAD_AFTER_MS = 5_000
INTENT_STEPS = ["CompileST", "ApplyPatchST", "DecideST", "ExecuteST"]


class Db:
    """Read-only SQL on one SQLite file (beside a live process: WAL allows it)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self, query: str, *params: Any) -> list[dict[str, Any]]:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(query, params)]
        finally:
            conn.close()

    def one(self, query: str, *params: Any) -> dict[str, Any]:
        found = self.rows(query, *params)
        assert len(found) == 1, (query, params, found)
        return found[0]

    def steps(self, run_id: str) -> dict[str, dict[str, Any]]:
        query = "SELECT * FROM run_steps WHERE run_id = ?"
        return {
            r["step_id"]: {**r, "output": json.loads(r["output"])} for r in self.rows(query, run_id)
        }

    def operations(self, workflow_id: str) -> list[dict[str, Any]]:
        query = "SELECT * FROM operation_outputs WHERE workflow_uuid = ? ORDER BY function_id"
        return self.rows(query, workflow_id)

    def receipts(self, run_id: str) -> list[dict[str, Any]]:
        query = "SELECT * FROM mock_receipts WHERE receipt_key LIKE ? ORDER BY receipt_key"
        return self.rows(query, f"{run_id}:%")

    def effects(self, run_id: str) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM effects WHERE run_id = ? ORDER BY effect_key", run_id)


def assert_kept(old_ops: list[dict[str, Any]], ops: list[dict[str, Any]]) -> None:
    """Every operation row of `old_ops` is in `ops`, unchanged, at its function id."""
    keyed = {(o["workflow_uuid"], o["function_id"]): o for o in ops}
    for old in old_ops:
        assert keyed.get((old["workflow_uuid"], old["function_id"])) == old, old


@dataclass
class Upgraded:
    """This code's API process on a copy of the killed release's database."""

    http: httpx.Client
    pid: int
    now: Db  # the live copy
    before: Db  # an untouched copy of the fixture: what the old release recorded

    def run(self, trace_or_id: str) -> dict[str, Any]:
        query = "SELECT * FROM runs WHERE trace_id = ? OR id = ?"
        return self.before.one(query, trace_or_id, trace_or_id)

    def wait_status(self, run_id: str, *wanted: str, timeout: float = 60) -> dict[str, Any]:
        return wait_run_status(self.http, run_id, *wanted, timeout=timeout)

    def answer(self, run_id: str) -> None:
        """Give the waiting run its input (once: a finished run needs none)."""
        if self.http.get(f"/runs/{run_id}").json()["status"] != "waiting_input":
            return
        reply = self.http.post(
            f"/runs/{run_id}/events", json={"type": "input", "payload": {"ok": True}}
        )
        assert reply.status_code == 202, reply.text

    def sleeper_timeout(self) -> float:
        """Seconds the sleeping document run may still need: the rest of its recorded
        sleep (none once the fixture is older than it) and a margin to finish."""
        wake_at = float(json.loads(self.before.operations("upg2-doc-sleeping")[1]["output"]))
        return max(wake_at - time.time(), 0) + 60


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upgraded]:
    # Under the default executor id, `local`: the dead process's id.
    scratch = tmp_path_factory.mktemp("upgrade2")
    with (
        api_on_old_database(FIXTURE, scratch) as api,
        httpx.Client(base_url=api.base_url, timeout=30) as http,
    ):
        yield Upgraded(http, api.pid, Db(api.database), Db(api.before))


def test_the_fixture_is_a_killed_process_with_runs_in_flight() -> None:
    assert not FIXTURE.with_name(FIXTURE.name + "-wal").exists()
    db = Db(FIXTURE)
    with sqlite3.connect(f"file:{FIXTURE}?mode=ro", uri=True) as conn:
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    conn.close()
    assert mode == "delete"
    runs = {r["trace_id"] or r["id"]: r for r in db.rows("SELECT * FROM runs")}
    assert {k: r["status"] for k, r in runs.items()} == {
        "upg2-waiting": "waiting_input",
        "upg2-executing": "running",
        "upg2-doc-sleeping": "running",
        "upg2-finished": "succeeded",
        "upg2-doc-done": "done",
    }
    executing = runs["upg2-executing"]["id"]
    pending = db.rows("SELECT workflow_uuid FROM workflow_status WHERE status = 'PENDING'")
    assert {r["workflow_uuid"] for r in pending} == {
        runs["upg2-waiting"]["workflow_id"],
        runs["upg2-executing"]["workflow_id"],
        f"{executing}:exec-2",
        "upg2-doc-sleeping",
    }
    execute = db.steps(executing)["ExecuteST"]
    assert execute["phase"] == "running"
    assert [n["node_id"] for n in execute["output"]["nodes"]] == ["exec-1"]
    assert db.operations(f"{executing}:exec-2") == []
    # SIGKILL: the dead process never cleared its beat (a clean stop writes 0).
    holder = db.one("SELECT * FROM workers WHERE executor_id = 'local'")
    assert holder["last_seen_ms"] > 0
    assert holder["last_seen_ms"] <= time.time() * 1000 - DEAD_AFTER_MS


def test_this_code_takes_over_the_dead_processes_executor_id_and_its_runs(
    upgraded: Upgraded,
) -> None:
    old = upgraded.before.one("SELECT * FROM workers WHERE executor_id = 'local'")

    new = upgraded.now.one("SELECT * FROM workers WHERE executor_id = 'local'")

    assert (new["pid"], new["host"]) == (upgraded.pid, socket.gethostname())
    assert new["started_at_ms"] > old["last_seen_ms"] + DEAD_AFTER_MS
    # The recovered runs stay under `local`, now the id of this process.
    executing = upgraded.run("upg2-executing")["id"]
    child = upgraded.now.one(
        "SELECT executor_id FROM workflow_status WHERE workflow_uuid = ?", f"{executing}:exec-2"
    )
    assert child["executor_id"] == "local"
    health = upgraded.http.get("/healthz")
    assert (health.status_code, health.json()["ok"]) == (200, True)


def test_the_run_waiting_for_input_is_answered_and_succeeds_without_repeating_a_step(
    upgraded: Upgraded,
) -> None:
    run = upgraded.run("upg2-waiting")
    run_id, workflow_id = run["id"], run["workflow_id"]
    old_steps = upgraded.before.steps(run_id)
    old_ops = upgraded.before.operations(workflow_id)
    assert set(old_steps) == {"CompileST", "ApplyPatchST", "DecideST"}
    upgraded.wait_status(run_id, "waiting_input")

    upgraded.answer(run_id)

    view = upgraded.wait_status(run_id, "succeeded")
    assert [s["stepId"] for s in view["steps"]] == INTENT_STEPS
    steps = upgraded.now.steps(run_id)
    for step_id, old in old_steps.items():
        assert steps[step_id] == old, step_id
    nodes = steps["ExecuteST"]["output"]["nodes"]
    assert [(n["node_id"], n["attempt"]) for n in nodes] == [("exec-1", 1), ("exec-2", 1)]
    ops = upgraded.now.operations(workflow_id)
    assert_kept(old_ops, ops)
    names = [o["function_name"] for o in ops]
    # The run waits in hour-long receives (`intent._INPUT_WAIT_SEC`): a receive whose hour
    # ran out while the fixture sat on disk returns nothing, and the loop waits again, so
    # there is one (recv, sleep) pair per hour elapsed, at least one. Each recv row lands
    # when it returns, before its timeout's (recorded when it began).
    waits = names[4:-5]
    assert waits and waits == ["DBOS.recv", "DBOS.sleep"] * (len(waits) // 2), names
    assert names[:4] + names[-5:] == [
        "CompileST",
        "ApplyPatchST",
        "DecideST",
        "AwaitInput",
        "InputReceived",
        *["execute_node", "DBOS.getResult"] * 2,
    ]
    # The decider was asked once, by the old release.
    calls = upgraded.now.rows("SELECT id FROM opencode_calls WHERE run_id = ?", run_id)
    assert calls == [{"id": f"{run_id}:DecideST"}]
    receipts = upgraded.now.receipts(run_id)
    assert [(r["receipt_key"], r["seen_count"]) for r in receipts] == [
        (f"{run_id}:ExecuteST:exec-1", 1),
        (f"{run_id}:ExecuteST:exec-2", 1),
    ]


def test_the_run_killed_inside_execute_finishes_with_every_node_recorded_once(
    upgraded: Upgraded,
) -> None:
    run = upgraded.run("upg2-executing")
    run_id, workflow_id = run["id"], run["workflow_id"]
    old_steps = upgraded.before.steps(run_id)
    old_ops = upgraded.before.operations(workflow_id)
    old_child = upgraded.before.operations(f"{run_id}:exec-1")
    (old_receipt,) = upgraded.before.receipts(run_id)
    (old_effect,) = upgraded.before.effects(run_id)

    view = upgraded.wait_status(run_id, "succeeded")

    assert (view["status"], view["dbos_status"]) == ("succeeded", "SUCCESS")
    steps = upgraded.now.steps(run_id)
    for step_id in ("CompileST", "ApplyPatchST", "DecideST"):
        assert steps[step_id] == old_steps[step_id], step_id
    assert steps["ExecuteST"]["phase"] == "done"
    assert steps["ExecuteST"]["started_at"] == old_steps["ExecuteST"]["started_at"]
    nodes = steps["ExecuteST"]["output"]["nodes"]
    assert [n["node_id"] for n in nodes] == ["exec-1", "exec-2"]
    assert nodes[0] == old_steps["ExecuteST"]["output"]["nodes"][0]
    # exec-1 finished in the old release: neither its child nor its parent ran it again.
    assert upgraded.now.operations(f"{run_id}:exec-1") == old_child
    exec_2 = upgraded.now.operations(f"{run_id}:exec-2")
    assert [(o["function_name"], o["error"]) for o in exec_2] == [("ExecuteST", None)]
    ops = upgraded.now.operations(workflow_id)
    assert_kept(old_ops, ops)
    assert [(o["function_name"], o["child_workflow_id"]) for o in ops[3:]] == [
        ("execute_node", f"{run_id}:exec-1"),
        ("DBOS.getResult", f"{run_id}:exec-1"),
        ("execute_node", f"{run_id}:exec-2"),
        ("DBOS.getResult", f"{run_id}:exec-2"),
    ]
    # Each node's receipt was delivered exactly once; exec-1's is the old delivery.
    receipts = upgraded.now.receipts(run_id)
    assert [(r["receipt_key"], r["seen_count"]) for r in receipts] == [
        (f"{run_id}:ExecuteST:exec-1", 1),
        (f"{run_id}:ExecuteST:exec-2", 1),
    ]
    assert receipts[0] == old_receipt
    effects = upgraded.now.effects(run_id)
    assert [e["effect_key"] for e in effects] == [r["receipt_key"] for r in receipts]
    assert effects[0] == old_effect
    calls = upgraded.now.rows("SELECT id FROM opencode_calls WHERE run_id = ?", run_id)
    assert calls == [{"id": f"{run_id}:DecideST"}]


def test_the_document_run_killed_in_its_sleep_wakes_on_time_and_ends_done_with_its_artifacts(
    upgraded: Upgraded,
) -> None:
    run_id = "upg2-doc-sleeping"
    old_ops = upgraded.before.operations(run_id)
    old_prepare = upgraded.before.steps(run_id)["prepare"]
    assert [o["function_name"] for o in old_ops] == ["prepare", "DBOS.sleep"]

    view = upgraded.wait_status(run_id, "done", timeout=upgraded.sleeper_timeout())

    assert (view["status"], view["dbos_status"]) == ("done", "SUCCESS")
    ops = upgraded.now.operations(run_id)
    assert ops[:2] == old_ops  # the sleep kept its recorded wake time
    assert [o["function_name"] for o in ops] == ["prepare", "DBOS.sleep", "side-effect", "finalize"]
    steps = upgraded.now.steps(run_id)
    assert steps["prepare"] == old_prepare
    assert steps["finalize"]["output"]["problems"] == []
    recorded = steps["side-effect"]["output"]["artifacts"]
    artifacts = upgraded.now.rows("SELECT * FROM artifacts WHERE run_id = ? ORDER BY id", run_id)
    assert sorted(a["type"] for a in artifacts) == ["chunk-index", "docir", "memo", "raw"]
    assert {a["type"]: a["sha256"] for a in artifacts} == {
        kind: meta["sha256"] for kind, meta in recorded.items()
    }
    assert [e["effect_key"] for e in upgraded.now.effects(run_id)] == [f"{run_id}:side-effect"]


def test_the_finished_runs_keep_their_results(upgraded: Upgraded) -> None:
    intent = upgraded.run("upg2-finished")
    doc = upgraded.run("upg2-doc-done")

    views = [upgraded.http.get(f"/runs/{r['id']}").json() for r in (intent, doc)]

    assert [(v["status"], v["dbos_status"]) for v in views] == [
        ("succeeded", "SUCCESS"),
        ("done", "SUCCESS"),
    ]
    assert [s["stepId"] for s in views[0]["steps"]] == INTENT_STEPS
    for run in (intent, doc):
        run_id, workflow_id = run["id"], run["workflow_id"]
        assert upgraded.now.steps(run_id) == upgraded.before.steps(run_id), run_id
        assert upgraded.now.operations(workflow_id) == upgraded.before.operations(workflow_id)
        assert upgraded.now.receipts(run_id) == upgraded.before.receipts(run_id), run_id
        assert upgraded.now.effects(run_id) == upgraded.before.effects(run_id), run_id
        query = "SELECT status, output, error FROM workflow_status WHERE workflow_uuid = ?"
        assert upgraded.now.one(query, workflow_id) == upgraded.before.one(query, workflow_id)
    for node in ("exec-1", "exec-2"):
        child = f"{intent['id']}:{node}"
        assert upgraded.now.operations(child) == upgraded.before.operations(child), child
    query = "SELECT id, sha256, size, producer_function_id FROM artifacts WHERE run_id = ?"
    assert upgraded.now.rows(query, doc["id"]) == upgraded.before.rows(query, doc["id"])


def test_no_step_ran_twice_anywhere(upgraded: Upgraded) -> None:
    """The whole database, once every run has ended: the ledgers agree, nothing twice."""
    intents = [upgraded.run(t) for t in ("upg2-waiting", "upg2-executing", "upg2-finished")]
    upgraded.answer(intents[0]["id"])
    for run in intents:
        upgraded.wait_status(run["id"], "succeeded")
    for doc in ("upg2-doc-sleeping", "upg2-doc-done"):
        upgraded.wait_status(doc, "done", timeout=upgraded.sleeper_timeout())
    now, before = upgraded.now, upgraded.before

    ops = now.rows("SELECT * FROM operation_outputs")

    # Every operation the old release recorded is still there, as it was.
    assert_kept(before.rows("SELECT * FROM operation_outputs"), ops)
    # No workflow recorded one operation twice: each name (per child) occurs once. The
    # waits for input are the exception: one (recv, sleep) pair per hour the run waited
    # (see the test above), which repeats no step.
    repeated = Counter(
        (o["workflow_uuid"], o["function_name"], o["child_workflow_id"])
        for o in ops
        if o["function_name"] not in ("DBOS.recv", "DBOS.sleep")
        or o["workflow_uuid"] != intents[0]["workflow_id"]
    )
    assert [k for k, n in repeated.items() if n > 1] == []
    # Every finished step of the old release kept its row.
    new_steps = {(s["run_id"], s["step_id"]): s for s in now.rows("SELECT * FROM run_steps")}
    for old in before.rows("SELECT * FROM run_steps WHERE phase = 'done'"):
        assert new_steps[(old["run_id"], old["step_id"])] == old
    assert Counter(s for _, s in new_steps) == {
        **dict.fromkeys(INTENT_STEPS, 3),
        **dict.fromkeys(["prepare", "side-effect", "finalize"], 2),
    }
    # Every node's receipt delivered exactly once, one ledger row each: 3 runs of 2 nodes.
    receipts = now.rows("SELECT receipt_key, seen_count FROM mock_receipts")
    assert sorted(r["seen_count"] for r in receipts) == [1] * 6
    ledger = now.rows("SELECT effect_key FROM effects WHERE step_id = 'ExecuteST'")
    assert sorted(e["effect_key"] for e in ledger) == sorted(r["receipt_key"] for r in receipts)
    assert len(now.rows("SELECT 1 FROM effects WHERE step_id = 'side-effect'")) == 2
    doc_types = "('raw', 'docir', 'chunk-index', 'memo')"
    assert len(now.rows(f"SELECT 1 FROM artifacts WHERE type IN {doc_types}")) == 8
    # The three nodes that ran in this release kept their outputs (result, stdout, stderr).
    node_outputs = now.rows(f"SELECT type FROM artifacts WHERE type NOT IN {doc_types}")
    assert Counter(a["type"] for a in node_outputs) == dict.fromkeys(
        ["node-result", "stdout", "stderr"], 3
    )
    calls = now.rows("SELECT id, run_id FROM opencode_calls")
    assert sorted(c["id"] for c in calls) == sorted(f"{r['id']}:DecideST" for r in intents)
