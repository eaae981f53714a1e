"""A document start survives a crash on either side of its 202 (seed 004, section 11.8).

A real `jejakekal api` process is SIGKILLed the moment it answers 202 to `POST /runs`,
then started again under the same executor id. The two half-started states a crash
can leave are built directly, through the product's own start with no process behind
it: a run row whose workflow was never started (a full process dies between its commit
and its start) and a row with its workflow enqueued that no worker took (an `api
--shim` dies). SQL is the oracle each time: one run row, one DBOS workflow, each step's
output once, each artifact once, the run done.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOSClient, DBOSPortableJSONSerializer

from conftest import make_settings
from jejakekal.bootstrap import prepare_database
from jejakekal.config import Settings
from jejakekal.control.context import Context
from jejakekal.control.documents import DocumentRuns
from jejakekal.domain import names
from jejakekal.domain.contracts import DocRunRequest
from jejakekal.drills.oracles import Oracles
from jejakekal.drills.processes import ApiProcess, DrillEnv, wait_for
from jejakekal.storage.database import Database

# Long enough that the run cannot end between the 202 and the kill.
SLEEP_MS = 1500
END_TIMEOUT_SEC = 90.0
ONCE_EACH_STEP = dict.fromkeys(names.DOC_STEPS, 1)
ONCE_EACH_ARTIFACT = dict.fromkeys(names.ARTIFACT_TYPES, 1)
# The steps the run records in `app.run_steps`: all but the durable sleep.
ONCE_EACH_STEP_ROW = {step: 1 for step in names.DOC_STEPS if step != names.OP_SLEEP}
# What SQL holds of a run that started once and ran to the end once.
RAN_ONCE = {
    "run_rows": 1,
    "workflows": 1,
    "effects": 1,
    "step_rows": ONCE_EACH_STEP_ROW,
    "operations": ONCE_EACH_STEP,
    "artifacts": ONCE_EACH_ARTIFACT,
    "run_status": "done",
    "workflow_status": "SUCCESS",
}


def _env(database_url: str, tmp_path: Path, settings: Settings) -> DrillEnv:
    # The settings' version: a shim's enqueued workflow is only dequeued by its own version.
    executor_id = f"doc-start-{uuid.uuid4().hex[:8]}"
    return DrillEnv(database_url, tmp_path, executor_id, settings.app_version, False)


def _source(what: str) -> str:
    return f"# {what}\n\nA document run started once ({uuid.uuid4().hex}).\n"


def _wait_done(oracles: Oracles, run_id: str) -> str:
    def ended() -> str | None:
        status = oracles.run_status(run_id)
        return status if status in ("done", "error") else None

    return wait_for(ended, timeout=END_TIMEOUT_SEC, what=f"{run_id} to end")


def _counts(oracles: Oracles, run_id: str) -> dict[str, Any]:
    """What must be there exactly once for a run that ran once."""

    def n(query: str) -> int:
        return int(next(iter(oracles.rows(query, id=run_id)[0].values())))

    return {
        "run_rows": n("SELECT count(*) AS n FROM app.runs WHERE id = :id"),
        "workflows": n("SELECT count(*) AS n FROM dbos.workflow_status WHERE workflow_uuid = :id"),
        "effects": n("SELECT count(*) AS n FROM app.effects WHERE run_id = :id"),
        "step_rows": {
            str(r["step_id"]): int(r["n"])
            for r in oracles.rows(
                "SELECT step_id, count(*) AS n FROM app.run_steps WHERE run_id = :id"
                " GROUP BY step_id",
                id=run_id,
            )
        },
        "operations": oracles.operations(run_id),
        "artifacts": oracles.artifacts(run_id),
        "run_status": oracles.run_status(run_id),
        "workflow_status": oracles.workflow_status(run_id),
    }


@pytest.mark.timeout(240)
def test_a_sigkill_right_after_the_202_of_a_document_start_leaves_one_run_done_once(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path)
    oracles = Oracles(database_url)
    body = {"source": _source("post-response kill"), "sleepMs": SLEEP_MS}
    with ApiProcess(_env(database_url, tmp_path, settings)) as api:
        api.start()

        # Act: the kill follows the reply, with nothing in between.
        reply = api.client.post("/runs", json=body)
        api.kill9()
        assert reply.status_code == 202, reply.text
        run_id = reply.json()["run_id"]
        at_kill = _counts(oracles, run_id)
        api.restart()
        ended = _wait_done(oracles, run_id)
        view = api.get(f"/runs/{run_id}")

    after = _counts(oracles, run_id)
    # The 202 came after a durable start: the row and its workflow were both recorded,
    # and the run had not ended.
    assert (at_kill["run_rows"], at_kill["workflows"]) == (1, 1)
    assert at_kill["run_status"] == "running" and at_kill["workflow_status"] == "PENDING"
    assert at_kill["operations"].get(names.STEP_FINALIZE, 0) == 0
    assert (api.kills, api.starts, ended) == (1, 2, "done")
    assert after == RAN_ONCE, after
    assert (view["status"], view["dbos_status"]) == ("done", "SUCCESS")


@contextmanager
def _no_process(settings: Settings) -> Iterator[tuple[Database, DBOSClient]]:
    """The database and a DBOS client, as a process has them, with no worker at all."""
    db = Database.open(settings.resolved_database_url)
    prepare_database(settings, db)
    client = DBOSClient(system_database_engine=db.engine, serializer=DBOSPortableJSONSerializer())
    try:
        yield db, client
    finally:
        client.destroy()
        db.dispose()


def _half_start(settings: Settings, source: str, *, enqueue: bool) -> str:
    """Start a document run through the product's own start, then stop short: with
    `enqueue`, as an `api --shim` (row and enqueued workflow in one commit, no worker);
    without, as a full process killed after its commit and before its start."""
    with _no_process(settings) as (db, client):
        ctx = Context(settings, db, client)
        # A starter that starts nothing is the crash between the commit and the start.
        documents = DocumentRuns(ctx, None if enqueue else (lambda _id, _input: None))
        return documents.start(DocRunRequest(source=source)).run_id


@pytest.mark.timeout(240)
@pytest.mark.parametrize("half", ["row_without_workflow", "enqueued_without_worker"])
def test_a_half_started_document_run_is_adopted_at_launch_and_finishes_once(
    half: str, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path)
    oracles = Oracles(database_url)
    enqueue = half == "enqueued_without_worker"
    run_id = _half_start(settings, _source(half), enqueue=enqueue)
    before = _counts(oracles, run_id)

    with ApiProcess(_env(database_url, tmp_path, settings)) as api:
        api.start()
        ended = _wait_done(oracles, run_id)
        once = _counts(oracles, run_id)
        # A second launch finds nothing left to adopt or recover.
        api.stop()
        api.start()
        view = api.get(f"/runs/{run_id}")
        again = _counts(oracles, run_id)

    assert (before["run_rows"], before["run_status"]) == (1, "running")
    assert before["workflows"] == (1 if enqueue else 0)
    assert before["workflow_status"] == ("ENQUEUED" if enqueue else None)
    assert (before["operations"], before["step_rows"], before["artifacts"]) == ({}, {}, {})
    assert ended == "done"
    assert once == RAN_ONCE, once
    assert again == once
    assert (view["status"], view["dbos_status"]) == ("done", "SUCCESS")
