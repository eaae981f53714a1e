"""`app.opencode_calls`: one row per decision attempt, never two for one attempt
(docs/runs.md, "Intent runs").

On both backends: a retried run asks the decider again and keeps both envelopes; a replay
of DecideST within one attempt (a crash between its commit and the engine's checkpoint)
records nothing more.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from conftest import Api, insert_intent_run, q
from jejakekal.adapters.decider import StubDecider
from jejakekal.config import Settings
from jejakekal.domain import lifecycle, names
from jejakekal.domain.compiler import compile_plan
from jejakekal.domain.errors import DecisionRejected
from jejakekal.domain.lifecycle import RunStatus
from jejakekal.storage import runs
from jejakekal.storage import schema as s
from jejakekal.storage.database import Database
from jejakekal.storage.migrations import migrate
from jejakekal.workflows import runtime, steps

DECISIONS = "SELECT id, request, response FROM app.opencode_calls WHERE run_id = '{run}'"


def test_a_rejected_run_retried_once_keeps_both_decisions(api: Api) -> None:
    intent_id = api.create_intent("reject this plan")
    run_id = api.start(intent_id)["runId"]
    api.wait_status(run_id, "failed")

    retry = api.client.post(f"/runs/{run_id}/retry")
    again = api.wait_status(run_id, "failed")

    assert retry.status_code == 202, retry.text
    assert again["retryCount"] == 1
    rows = sorted(api.sql(q(DECISIONS, run=run_id)), key=lambda r: str(r["id"]))
    assert [r["id"] for r in rows] == [f"{run_id}:DecideST", f"{run_id}:DecideST:2"]
    for row in rows:
        assert row["request"] and row["response"]
        assert '"reject"' in str(row["response"]).replace("'", '"')
    decide = next(step for step in again["steps"] if step["stepId"] == "DecideST")
    assert decide["attempt"] == 2


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    db = Database.open(database_url)
    migrate(db)
    yield db
    db.dispose()


@pytest.fixture
def bound(db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Database:
    """DecideST's runtime on the test's database, with the deterministic stub decider."""
    rt = runtime.Runtime(settings, db, StubDecider(), sandbox=None, results=None)  # type: ignore[arg-type]
    monkeypatch.setattr(runtime, "_runtime", rt)
    return db


def _intent_run(db: Database, run_id: str) -> None:
    insert_intent_run(db, run_id, RunStatus.RUNNING)


def _decide(run_id: str, goal: str) -> None:
    plan = compile_plan(goal, {}, "compile-default", 1, 1)
    with pytest.raises(DecisionRejected):
        steps.decide_st(run_id, plan, True)


def _decision_ids(db: Database, run_id: str) -> list[str]:
    with db.read() as tx:
        ids = sa.select(s.opencode_calls.c.id).where(s.opencode_calls.c.run_id == run_id)
        return sorted(tx.execute(ids).scalars())


def test_a_replayed_decision_adds_no_row_and_a_retried_one_adds_one(bound: Database) -> None:
    _intent_run(bound, "run-d1")

    _decide("run-d1", "reject this")
    _decide("run-d1", "reject this")  # the same attempt replayed
    replayed = _decision_ids(bound, "run-d1")
    with bound.write() as tx:  # what POST /runs/{id}/retry writes
        retried = lifecycle.retried(RunStatus.FAILED, 0, names.STEP_DECIDE)
        assert runs.change_run(tx, "run-d1", retried)
    _decide("run-d1", "reject this")
    _decide("run-d1", "reject this")
    retried = _decision_ids(bound, "run-d1")

    assert replayed == ["run-d1:DecideST"]
    assert retried == ["run-d1:DecideST", "run-d1:DecideST:2"]
