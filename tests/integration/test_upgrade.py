"""Upgrade: this release replays runs the previous release checkpointed.

`tests/fixtures/release1.sqlite` is a database the previous release (commit 0b8b9ce) left
with runs mid-flight: an intent run waiting for input, a document run cancelled in its
durable sleep, an intent run that ended `retries_exceeded`, one a decider rejected
(`failed` at DecideST), and a finished intent run and document run. How it was made, and
how to remake it for the next release: tests/fixtures/make_release1.py.

The test copies it, starts this release's `jejakekal api` on the copy in its own process,
and drives every run to its end, with the fixture's own rows as the oracle of what
must not run again. SQLite only: the fixture is a SQLite file (the storage code is the
same on PostgreSQL, and the contract tests hold it there).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import api_on_old_database, q, wait_run_status
from jejakekal.storage.console import run_readonly
from jejakekal.storage.migrations import MIGRATIONS

FIXTURE = Path(__file__).parent.parent / "fixtures" / "release1.sqlite"
CLI = [sys.executable, "-m", "jejakekal.cli.main"]
# Statuses a run leaves only when an operator acts: waiting past one of them is futile.


def _rows(url: str, query: str) -> list[dict[str, Any]]:
    columns, rows = run_readonly(url, query)
    return [dict(zip(columns, r, strict=True)) for r in rows]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


@dataclass
class Upgraded:
    """This release's API process on a copy of the previous release's database."""

    http: httpx.Client
    url: str
    home: Path
    before: str  # an untouched copy of the fixture: what the old release recorded

    def sql(self, query: str) -> list[dict[str, Any]]:
        return _rows(self.url, query)

    def old(self, query: str) -> list[dict[str, Any]]:
        return _rows(self.before, query)

    def run_id(self, trace_or_id: str) -> str:
        found = self.old(
            q("SELECT id FROM app.runs WHERE trace_id = '{t}' OR id = '{t}'", t=trace_or_id)
        )
        assert len(found) == 1, trace_or_id
        return str(found[0]["id"])

    def wait_status(self, run_id: str, *wanted: str, timeout: float = 60) -> dict[str, Any]:
        return wait_run_status(self.http, run_id, *wanted, timeout=timeout)

    def steps(self, run_id: str, url: str | None = None) -> dict[str, dict[str, Any]]:
        query = q(
            "SELECT step_id, phase, output, started_at FROM app.run_steps WHERE run_id = '{r}'",
            r=run_id,
        )
        rows = _rows(url or self.url, query)
        return {r["step_id"]: {**r, "output": _json(r["output"])} for r in rows}

    def operations(self, workflow_id: str, url: str | None = None) -> list[dict[str, Any]]:
        query = q(
            "SELECT function_id, function_name, output, error FROM dbos.operation_outputs "
            "WHERE workflow_uuid = '{w}' ORDER BY function_id",
            w=workflow_id,
        )
        return _rows(url or self.url, query)

    def workflow_of(self, run_id: str) -> str:
        rows = self.old(q("SELECT workflow_id FROM app.runs WHERE id = '{r}'", r=run_id))
        return str(rows[0]["workflow_id"])


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upgraded]:
    scratch = tmp_path_factory.mktemp("upgrade")
    with (
        api_on_old_database(FIXTURE, scratch) as api,
        httpx.Client(base_url=api.base_url, timeout=30) as http,
    ):
        yield Upgraded(
            http, f"sqlite:///{api.database}", api.database.parent, f"sqlite:///{api.before}"
        )


def test_the_fixture_is_one_self_contained_sqlite_file() -> None:
    assert not FIXTURE.with_name(FIXTURE.name + "-wal").exists()
    with sqlite3.connect(f"file:{FIXTURE}?mode=ro", uri=True) as conn:
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    conn.close()
    assert mode == "delete"


def test_migrations_bring_the_old_database_to_this_release(upgraded: Upgraded) -> None:
    versions = {r["version"] for r in upgraded.sql("SELECT version FROM app.schema_migrations")}
    assert versions == {version for version, _, _ in MIGRATIONS}
    health = upgraded.http.get("/healthz")
    assert health.status_code == 200
    assert health.json()["ok"] is True


def test_a_run_waiting_for_input_accepts_its_event_and_succeeds_without_repeating_steps(
    upgraded: Upgraded,
) -> None:
    run_id = upgraded.run_id("upg-waiting")
    workflow_id = upgraded.workflow_of(run_id)
    old_steps = upgraded.steps(run_id, upgraded.before)
    old_ops = upgraded.operations(workflow_id, upgraded.before)
    assert set(old_steps) == {"CompileST", "ApplyPatchST", "DecideST"}
    assert [o["function_name"] for o in old_ops][:4] == [
        "CompileST",
        "ApplyPatchST",
        "DecideST",
        "AwaitInput",
    ]
    upgraded.wait_status(run_id, "waiting_input")

    reply = upgraded.http.post(
        f"/runs/{run_id}/events", json={"type": "input", "payload": {"ok": True}}
    )

    assert reply.status_code == 202, reply.text
    view = upgraded.wait_status(run_id, "succeeded")
    assert [s["stepId"] for s in view["steps"]] == [
        "CompileST",
        "ApplyPatchST",
        "DecideST",
        "ExecuteST",
    ]
    steps = upgraded.steps(run_id)
    for step_id, old in old_steps.items():
        assert steps[step_id] == old, step_id
        assert steps[step_id]["output"]["attempt"] == 1, step_id
    assert upgraded.operations(workflow_id)[:4] == old_ops[:4]
    # The decider was asked once, by the old release; the replay asked it nothing.
    calls = upgraded.sql(q("SELECT id FROM app.opencode_calls WHERE run_id = '{r}'", r=run_id))
    assert calls == [{"id": f"{run_id}:DecideST"}]
    status = upgraded.sql(
        q("SELECT status FROM dbos.workflow_status WHERE workflow_uuid = '{w}'", w=workflow_id)
    )
    assert status == [{"status": "SUCCESS"}]


def test_a_document_run_cancelled_in_its_sleep_resumes_to_done_without_a_second_prepare(
    upgraded: Upgraded,
) -> None:
    run_id = upgraded.run_id("upg-doc-canceled")
    old_ops = upgraded.operations(run_id, upgraded.before)
    assert [o["function_name"] for o in old_ops] == ["prepare", "DBOS.sleep"]
    # The durable sleep ends at the time the old release recorded: 60 s after it started.
    wake_at = float(json.loads(old_ops[1]["output"]))  # epoch seconds
    assert wake_at < time.time(), "fixture younger than its 60 s sleep; wait, then rerun"
    assert upgraded.http.get(f"/runs/{run_id}").json()["dbos_status"] == "CANCELLED"

    reply = upgraded.http.post(f"/runs/{run_id}/resume")

    assert reply.status_code == 202, reply.text
    view = upgraded.wait_status(run_id, "done", "error")
    assert (view["status"], view["dbos_status"]) == ("done", "SUCCESS")
    ops = upgraded.operations(run_id)
    assert ops[:2] == old_ops
    assert [o["function_name"] for o in ops] == ["prepare", "DBOS.sleep", "side-effect", "finalize"]
    assert upgraded.steps(run_id)["prepare"] == upgraded.steps(run_id, upgraded.before)["prepare"]


def test_retrying_a_retries_exceeded_run_re_enters_at_execute_and_fails_again_by_its_lane(
    upgraded: Upgraded,
) -> None:
    run_id = upgraded.run_id("upg-failing")
    workflow_id = upgraded.workflow_of(run_id)
    old_steps = upgraded.steps(run_id, upgraded.before)
    old_ops = upgraded.operations(workflow_id, upgraded.before)
    assert upgraded.http.get(f"/runs/{run_id}").json()["status"] == "retries_exceeded"

    reply = upgraded.http.post(f"/runs/{run_id}/retry")

    assert reply.status_code == 202, reply.text
    assert reply.json()["fromStep"] == "ExecuteST"
    view = upgraded.wait_status(run_id, "retries_exceeded", "succeeded", "failed")
    assert view["status"] == "retries_exceeded"
    assert view["retryCount"] == 1
    steps = upgraded.steps(run_id)
    for step_id in ("CompileST", "ApplyPatchST", "DecideST"):
        assert steps[step_id] == old_steps[step_id], step_id
    assert steps["ExecuteST"]["phase"] == "failed"
    ops = upgraded.operations(workflow_id)
    assert ops[:3] == old_ops[:3]
    assert [o["function_name"] for o in ops[:3]] == ["CompileST", "ApplyPatchST", "DecideST"]
    # The lane failed the node again, in this release: its ExecuteST's last attempt gave
    # up with a failure a human can read, which is the run's error now.
    child = upgraded.operations(f"{run_id}:exec-1")
    assert [o["function_name"] for o in child] == ["ExecuteST"]
    assert "failed on purpose" in str(child[0]["output"])
    assert view["error"].startswith("ExecuteST: node exec-1 failed on purpose"), view["error"]


def test_retrying_a_rejected_run_asks_the_decider_again_and_keeps_both_decisions(
    upgraded: Upgraded,
) -> None:
    run_id = upgraded.run_id("upg-rejected")
    workflow_id = upgraded.workflow_of(run_id)
    old_steps = upgraded.steps(run_id, upgraded.before)
    old_ops = upgraded.operations(workflow_id, upgraded.before)
    old_calls = upgraded.old(
        q("SELECT id, response FROM app.opencode_calls WHERE run_id = '{r}'", r=run_id)
    )
    assert [c["id"] for c in old_calls] == [f"{run_id}:DecideST"]

    reply = upgraded.http.post(f"/runs/{run_id}/retry")

    assert reply.status_code == 202, reply.text
    assert reply.json()["fromStep"] == "DecideST"
    view = upgraded.wait_status(run_id, "failed", "succeeded", "retries_exceeded")
    assert (view["status"], view["retryCount"]) == ("failed", 1)
    calls = upgraded.sql(
        q(
            "SELECT id, response FROM app.opencode_calls WHERE run_id = '{r}' ORDER BY id",
            r=run_id,
        )
    )
    assert [c["id"] for c in calls] == [f"{run_id}:DecideST", f"{run_id}:DecideST:2"]
    assert calls[0] == old_calls[0]
    assert [_json(c["response"])["action"] for c in calls] == ["reject", "reject"]
    steps = upgraded.steps(run_id)
    for step_id in ("CompileST", "ApplyPatchST"):
        assert steps[step_id] == old_steps[step_id], step_id
    assert steps["DecideST"]["output"]["attempt"] == 2
    ops = upgraded.operations(workflow_id)
    assert ops[:2] == old_ops[:2]
    assert ops[2]["function_name"] == "DecideST"
    assert ops[2]["error"] is not None


def test_finished_runs_of_the_old_release_show_and_export(upgraded: Upgraded) -> None:
    intent_run = upgraded.run_id("upg-finished")
    doc_run = upgraded.run_id("upg-doc-done")
    intent_view = upgraded.http.get(f"/runs/{intent_run}").json()
    doc_view = upgraded.http.get(f"/runs/{doc_run}").json()
    assert (intent_view["status"], intent_view["dbos_status"]) == ("succeeded", "SUCCESS")
    assert [s["stepId"] for s in intent_view["steps"]] == [
        "CompileST",
        "ApplyPatchST",
        "DecideST",
        "ExecuteST",
    ]
    assert (doc_view["status"], doc_view["dbos_status"]) == ("done", "SUCCESS")
    runs = upgraded.http.get("/runs", params={"limit": 50}).json()["items"]
    listed = {r["run_id"] for r in runs}
    assert {intent_run, doc_run} <= listed

    recorded = upgraded.steps(doc_run, upgraded.before)["side-effect"]["output"]["artifacts"]
    for run_id in (intent_run, doc_run):
        reply = upgraded.http.get(f"/runs/{run_id}/export")
        assert reply.status_code == 200, reply.text
        bundle = Path(reply.json()["run_bundle_path"])
        assert bundle.resolve() == (upgraded.home / "bundles" / run_id).resolve()
        manifest = json.loads((bundle / "manifest.json").read_bytes())
        assert manifest["files"], run_id
        for entry in manifest["files"]:
            assert sha256((bundle / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]
    exported = upgraded.http.get(f"/runs/{doc_run}/export").json()["artifacts"]
    assert {a["id"]: a["sha256"] for a in exported} == {
        kind: meta["sha256"] for kind, meta in recorded.items()
    }
