"""The idempotent-effect primitive and the storage commands, on both backends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import insert_intent_run
from jejakekal.config import Settings
from jejakekal.domain import lifecycle, names
from jejakekal.domain.execute import Node
from jejakekal.domain.lifecycle import RunChange, RunKind, RunStatus
from jejakekal.domain.records import NewRun, StepPhase, StepRecord
from jejakekal.storage import execute, runs
from jejakekal.storage import schema as s
from jejakekal.storage.database import Database
from jejakekal.storage.effects import call_idempotent_effect, deliver_receipt, insert_ignore
from jejakekal.storage.migrations import migrate
from jejakekal.workflows.doc_files import record_doc_step


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    db = Database.open(database_url)
    migrate(db)
    yield db
    db.dispose()


def _deliver_once(db: Database, key: str) -> Any:
    with db.write() as tx:
        return call_idempotent_effect(
            tx, key, "run-1", "ExecuteST", lambda tx: deliver_receipt(tx, key, {"n": 1})
        )


def test_parallel_calls_with_one_effect_key_deliver_exactly_once(db: Database) -> None:
    results: list[Any] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            results.append(_deliver_once(db, "run-1:ExecuteST:exec-1"))
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert len({json.dumps(r, sort_keys=True) for r in results}) == 1
    with db.read() as tx:
        seen = tx.execute(sa.select(s.mock_receipts.c.seen_count)).scalars().all()
        ledger = tx.execute(sa.select(sa.func.count()).select_from(s.effects)).scalar_one()
    assert seen == [1]
    assert ledger == 1


def test_a_replay_returns_the_recorded_result(db: Database) -> None:
    first = _deliver_once(db, "k")
    second = _deliver_once(db, "k")
    assert first == second


def test_an_effect_that_fails_leaves_no_ledger_row(db: Database) -> None:
    def broken(_: Any) -> Any:
        raise RuntimeError("external system down")

    with pytest.raises(RuntimeError), db.write() as tx:
        call_idempotent_effect(tx, "k2", "run-1", "ExecuteST", broken)
    with db.read() as tx:
        assert tx.execute(sa.select(sa.func.count()).select_from(s.effects)).scalar_one() == 0


def test_migrations_are_idempotent(db: Database) -> None:
    assert migrate(db) == []
    with db.read() as tx:
        recipes = tx.execute(sa.select(s.recipes.c.name).order_by(s.recipes.c.name)).scalars()
        assert list(recipes) == [
            "agent",
            "compile-default",
            "openai",
            "sandbox-default",
            "script",
            "script-approval",
        ]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jejakekal.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_db_reset_empties_both_table_families_and_reseeds(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    with db.write() as tx:
        tx.execute(s.marks.insert().values(run_id="r", step="s1", created_at=sa.func.now()))
    env = {**os.environ, "JEJAKEKAL_DATABASE_URL": database_url, "JEJAKEKAL_HOME": str(tmp_path)}

    reset = _cli(env, "db", "reset")
    marks = _cli(env, "sql", "--json", "SELECT COUNT(*) AS n FROM app.marks")
    recipes = _cli(env, "sql", "--json", "SELECT COUNT(*) AS n FROM app.recipes")
    workflows = _cli(env, "sql", "--json", "SELECT COUNT(*) AS n FROM dbos.workflow_status")

    assert reset.returncode == 0, reset.stderr
    assert json.loads(marks.stdout) == [{"n": 0}]
    assert json.loads(recipes.stdout) == [{"n": 6}]
    assert json.loads(workflows.stdout) == [{"n": 0}]


def test_racing_survivors_claim_a_dead_worker_exactly_once(db: Database) -> None:
    from jejakekal.storage import workers

    now = 1_000_000_000
    for executor_id, seen in (("dead", now - 60_000), *((f"s{n}", now) for n in range(8))):
        workers.beat(
            db,
            executor_id=executor_id,
            app_version="v",
            role="worker",
            host="h",
            pid=1,
            now_ms=seen,
        )
    claims: list[list[str]] = []
    barrier = threading.Barrier(8)

    def survivor(n: int) -> None:
        barrier.wait()
        claims.append(
            workers.claim_dead(db, me=f"s{n}", app_version="v", now_ms=now, dead_after_ms=5000)
        )

    threads = [threading.Thread(target=survivor, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(c for claim in claims for c in claim) == ["dead"]
    with db.read() as tx:
        row = tx.execute(
            sa.select(s.workers.c.recovered_by).where(s.workers.c.executor_id == "dead")
        ).scalar_one()
    assert row in {f"s{n}" for n in range(8)}


def test_a_worker_that_beats_again_is_live_and_claimable_again(db: Database) -> None:
    from jejakekal.storage import workers

    def beat(executor_id: str, now_ms: int) -> None:
        workers.beat(
            db,
            executor_id=executor_id,
            app_version="v",
            role="worker",
            host="h",
            pid=1,
            now_ms=now_ms,
        )

    beat("w", 0)
    beat("s", 10_000)
    first = workers.claim_dead(db, me="s", app_version="v", now_ms=10_000, dead_after_ms=5000)
    beat("w", 20_000)
    beat("s", 20_000)
    live = workers.live(db, app_version="v", now_ms=20_000)
    beat("s", 40_000)
    second = workers.claim_dead(db, me="s", app_version="v", now_ms=40_000, dead_after_ms=5000)

    assert (first, live, second) == (["w"], ["s", "w"], ["w"])


def _node(node_id: str, attempt: int) -> Node:
    return {
        "node_id": node_id,
        "attempt": attempt,
        "exit_code": 0,
        "isolation": "none",
        "receipt": {"k": node_id},
    }


def _run_with_open_execute(db: Database, run_id: str, status: RunStatus) -> None:
    """An intent run of `status` whose ExecuteST row is open, as DecideST leaves it."""
    insert_intent_run(db, run_id, status)
    with db.write() as tx:
        execute.open_step(tx, run_id, after_input=False)


def _execute_row(db: Database, run_id: str) -> tuple[str, dict[str, Any], str]:
    with db.read() as tx:
        step = tx.execute(
            sa.select(s.run_steps.c.phase, s.run_steps.c.output).where(
                s.run_steps.c.run_id == run_id, s.run_steps.c.step_id == "ExecuteST"
            )
        ).one()
        status = tx.execute(sa.select(s.runs.c.status).where(s.runs.c.id == run_id)).scalar()
    return step.phase, step.output, str(status)


def _execute_step(run_id: str, phase: StepPhase, output: dict[str, Any]) -> StepRecord:
    return StepRecord(
        run_id=run_id,
        step_id=names.STEP_EXECUTE,
        phase=phase,
        output=output,
        started_at=runs.now(),  # a creation value: the row exists, so it stays
        finished_at=runs.now() if phase != StepPhase.RUNNING else None,
    )


def test_a_retry_keeps_finished_nodes_and_its_last_node_closes_the_run(db: Database) -> None:
    """ADR 0006 through a retry: exec-1 succeeds, exec-2 gives up, the retry reruns only
    exec-2, and its transaction closes the step and the (still `queued`) run."""
    _run_with_open_execute(db, "run-1", RunStatus.RUNNING)
    with db.write() as tx:
        execute.node_done(tx, "run-1", 2, _node("exec-1", 1))
    assert _execute_row(db, "run-1")[0::2] == ("running", "running")

    with db.write() as tx:
        execute.fail(tx, "run-1", 3, "exec-2 gave up")
    phase, output, status = _execute_row(db, "run-1")
    assert (phase, status, output["attempt"]) == ("failed", "retries_exceeded", 3)
    assert [n["node_id"] for n in output["nodes"]] == ["exec-1"]

    with db.write() as tx:  # what POST /runs/{id}/retry writes
        retried = lifecycle.retried(RunStatus.RETRIES_EXCEEDED, 0, names.STEP_EXECUTE)
        assert runs.change_run(tx, "run-1", retried)
        execute.reopen(tx, "run-1")
        execute.node_done(tx, "run-1", 2, _node("exec-2", 1))
    phase, output, status = _execute_row(db, "run-1")
    assert (phase, status, output["attempt"]) == ("done", "succeeded", 1)
    assert [n["node_id"] for n in output["nodes"]] == ["exec-1", "exec-2"]


def test_the_last_node_leaves_a_canceled_run_canceled(db: Database) -> None:
    _run_with_open_execute(db, "run-2", RunStatus.CANCELED)
    with db.write() as tx:
        execute.node_done(tx, "run-2", 1, _node("exec-1", 2))
    phase, output, status = _execute_row(db, "run-2")
    assert (phase, status, output["attempt"]) == ("done", "canceled", 2)


def test_a_replayed_node_of_a_one_node_run_replaces_its_entry(db: Database) -> None:
    """A one-node run merges nothing (no locked read): its replay still leaves one entry."""
    _run_with_open_execute(db, "run-3", RunStatus.RUNNING)
    for attempt in (1, 2):
        with db.write() as tx:
            execute.node_done(tx, "run-3", 1, _node("exec-1", attempt))
    phase, output, status = _execute_row(db, "run-3")
    assert (phase, status, output["attempt"]) == ("done", "succeeded", 2)
    assert [n["attempt"] for n in output["nodes"]] == [2]


@pytest.fixture
def bound(db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Database:
    """CompileST's runtime on the test's database, with the stub planner."""
    from jejakekal.adapters.planners import StubPlanner
    from jejakekal.workflows import runtime

    rt = runtime.Runtime(
        settings,
        db,
        None,
        None,
        None,
        planners={"stub": StubPlanner()},  # type: ignore[arg-type]
    )
    monkeypatch.setattr(runtime, "_runtime", rt)
    return db


def test_compile_takes_the_intent_from_the_run_input_or_reads_it(bound: Database) -> None:
    """A run input carries its intent's goal and inputs; one started before it did reads
    the intent, and both compile the same plan."""
    from jejakekal.workflows import steps

    db = bound
    _run_with_open_execute(db, "run-4", RunStatus.QUEUED)
    base = {
        "run_id": "run-4",
        "intent_id": "intent-4",
        "recipe_name": "compile-default",
        "concurrency": 1,
        "steps": 2,
        "sandbox_minutes": 1.0,
    }
    carried = steps.compile_st({**base, "goal": "g", "inputs": {}})
    read = steps.compile_st(base)
    assert carried == read
    assert len(carried["workload"]["nodes"]) == 2


def test_a_write_naming_a_column_the_table_lacks_fails_and_writes_nothing(db: Database) -> None:
    """`insert_ignore` takes its columns from the values' names: a misspelt name must
    fail the transaction, not be dropped in silence. (A run's and a step's writes take
    typed records, which cannot name a column the table lacks.)"""
    _run_with_open_execute(db, "run-3", RunStatus.RUNNING)
    with pytest.raises(TypeError, match="seen"), db.write() as tx:
        runs.record_decision(tx, "run-3", "DecideST", {}, {})
        insert_ignore(tx, s.marks, run_id="run-3", step="x", seen=1)
    with db.read() as tx:
        assert tx.execute(sa.select(s.runs.c.status)).scalars().all() == ["running"]
        steps_of_run = sa.select(s.run_steps.c.step_id).where(s.run_steps.c.run_id == "run-3")
        assert tx.execute(steps_of_run).scalars().all() == ["ExecuteST"]
        assert tx.execute(sa.select(sa.func.count()).select_from(s.opencode_calls)).scalar() == 0
        assert tx.execute(sa.select(sa.func.count()).select_from(s.marks)).scalar() == 0


def test_a_write_sets_only_the_values_it_names(db: Database) -> None:
    """A step's later record keeps its first start; a run change keeps the fields it
    leaves unset, and a guarded one applies only from the statuses it names."""
    _run_with_open_execute(db, "run-4", RunStatus.RUNNING)
    with db.write() as tx:
        started = tx.execute(
            sa.select(s.run_steps.c.started_at).where(s.run_steps.c.run_id == "run-4")
        ).scalar_one()
        runs.record_step(tx, _execute_step("run-4", StepPhase.DONE, {"attempt": 2}))
        running = (RunStatus.RUNNING,)
        assert runs.change_run(
            tx, "run-4", RunChange(status=RunStatus.RUNNING, error="e", only_from=running)
        )
        assert not runs.change_run(
            tx,
            "run-4",
            RunChange(status=RunStatus.FAILED, error="other", only_from=(RunStatus.QUEUED,)),
        )
    phase, output, status = _execute_row(db, "run-4")
    assert (phase, output, status) == ("done", {"attempt": 2}, "running")
    with db.read() as tx:
        row = tx.execute(sa.select(s.run_steps.c.started_at)).scalar_one()
        assert row == started
        run = tx.execute(sa.select(s.runs.c.error, s.runs.c.last_step, s.runs.c.retry_count))
        assert tuple(run.one()) == ("e", "ExecuteST", 0)


def test_a_step_read_for_update_holds_off_other_writers_until_it_commits(
    db: Database,
) -> None:
    """execute.fail and execute.reopen read ExecuteST's nodes before they write. A node
    that lands in between must wait, or the step's write would drop it (on SQLite the
    lock must be taken at the read, not at the first write)."""
    _run_with_open_execute(db, "run-3", RunStatus.RUNNING)
    read = threading.Event()
    landed = threading.Event()

    def node_lands() -> None:
        read.wait(10)
        with db.write() as tx:
            execute.node_done(tx, "run-3", 3, _node("exec-2", 1))
        landed.set()

    racer = threading.Thread(target=node_lands)
    racer.start()
    with db.write() as tx:
        nodes = (runs.step_output_for_update(tx, "run-3", "ExecuteST") or {}).get("nodes")
        read.set()
        # Room for the racer to commit, were it not held off: it must not.
        assert not landed.wait(0.5)
        output = {"attempt": None, "nodes": [*(nodes or []), _node("exec-1", 1)]}
        runs.record_step(tx, _execute_step("run-3", StepPhase.RUNNING, output))
    racer.join(30)

    _, output, _ = _execute_row(db, "run-3")
    assert sorted(n["node_id"] for n in output["nodes"]) == ["exec-1", "exec-2"]


def test_a_document_steps_first_record_is_final(db: Database) -> None:
    """Two executions of one document run (a stale one still running after a cancel and
    a quick resume): the second record of a finished step changes neither the step's
    row nor the run, so a run reported done stays exactly as it was."""
    run = NewRun(
        run_id="doc-1", kind=RunKind.DOC, workflow_id="doc-1", request_hash="h", request={}
    )
    with db.write() as tx:
        runs.insert_run(tx, run)
    started = runs.now()
    with db.write() as tx:
        record_doc_step(tx, "doc-1", names.STEP_SIDE_EFFECT, {"attempt": 1}, started)
        record_doc_step(
            tx, "doc-1", names.STEP_FINALIZE, {"attempt": 1}, started, finishes_run=True
        )
    before = _doc_rows(db)

    with db.write() as tx:  # the stale execution's records, later
        record_doc_step(tx, "doc-1", names.STEP_SIDE_EFFECT, {"attempt": 2}, runs.now())
        record_doc_step(tx, "doc-1", names.STEP_FINALIZE, {"attempt": 2}, runs.now(), "late")

    assert _doc_rows(db) == before
    assert before[0][:3] == ("done", "finalize", None)
    assert [(step, output) for step, _, output, *_ in before[1]] == [
        (names.STEP_FINALIZE, {"attempt": 1}),
        (names.STEP_SIDE_EFFECT, {"attempt": 1}),
    ]


def _doc_rows(db: Database) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    with db.read() as tx:
        run = tx.execute(
            sa.select(s.runs.c.status, s.runs.c.last_step, s.runs.c.error, s.runs.c.updated_at)
        ).one()
        steps = tx.execute(
            sa.select(
                s.run_steps.c.step_id,
                s.run_steps.c.phase,
                s.run_steps.c.output,
                s.run_steps.c.started_at,
                s.run_steps.c.finished_at,
            ).order_by(s.run_steps.c.step_id)
        ).all()
    return tuple(run), [tuple(row) for row in steps]
