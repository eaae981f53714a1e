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

from jejakekal.storage import runs
from jejakekal.storage import schema as s
from jejakekal.storage.effects import call_idempotent_effect, deliver_receipt, insert_ignore
from jejakekal.storage.engine import create_engine
from jejakekal.storage.migrations import migrate


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


def _deliver_once(engine: sa.Engine, key: str) -> Any:
    with engine.begin() as conn:
        return call_idempotent_effect(
            conn, key, "run-1", "ExecuteST", lambda db: deliver_receipt(db, key, {"n": 1})
        )


def test_parallel_calls_with_one_effect_key_deliver_exactly_once(engine: sa.Engine) -> None:
    results: list[Any] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            results.append(_deliver_once(engine, "run-1:ExecuteST:exec-1"))
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert len({json.dumps(r, sort_keys=True) for r in results}) == 1
    with engine.connect() as conn:
        seen = conn.execute(sa.select(s.mock_receipts.c.seen_count)).scalars().all()
        ledger = conn.execute(sa.select(sa.func.count()).select_from(s.effects)).scalar_one()
    assert seen == [1]
    assert ledger == 1


def test_a_replay_returns_the_recorded_result(engine: sa.Engine) -> None:
    first = _deliver_once(engine, "k")
    second = _deliver_once(engine, "k")
    assert first == second


def test_an_effect_that_fails_leaves_no_ledger_row(engine: sa.Engine) -> None:
    def broken(_: Any) -> Any:
        raise RuntimeError("external system down")

    with pytest.raises(RuntimeError), engine.begin() as conn:
        call_idempotent_effect(conn, "k2", "run-1", "ExecuteST", broken)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(s.effects)).scalar_one() == 0


def test_migrations_are_idempotent(engine: sa.Engine) -> None:
    assert migrate(engine) == []
    with engine.connect() as conn:
        names = conn.execute(sa.select(s.recipes.c.name).order_by(s.recipes.c.name)).scalars()
        assert list(names) == ["compile-default", "sandbox-default"]


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
    engine: sa.Engine, database_url: str, tmp_path: Path
) -> None:
    with engine.begin() as conn:
        conn.execute(s.marks.insert().values(run_id="r", step="s1", created_at=sa.func.now()))
    env = {**os.environ, "JEJAKEKAL_DATABASE_URL": database_url, "JEJAKEKAL_HOME": str(tmp_path)}

    reset = _cli(env, "db", "reset")
    marks = _cli(env, "sql", "--json", "SELECT COUNT(*) AS n FROM app.marks")
    recipes = _cli(env, "sql", "--json", "SELECT COUNT(*) AS n FROM app.recipes")
    workflows = _cli(env, "sql", "--json", "SELECT COUNT(*) AS n FROM dbos.workflow_status")

    assert reset.returncode == 0, reset.stderr
    assert json.loads(marks.stdout) == [{"n": 0}]
    assert json.loads(recipes.stdout) == [{"n": 2}]
    assert json.loads(workflows.stdout) == [{"n": 0}]


def test_racing_survivors_claim_a_dead_worker_exactly_once(engine: sa.Engine) -> None:
    from jejakekal.storage import workers

    now = 1_000_000_000
    for executor_id, seen in (("dead", now - 60_000), *((f"s{n}", now) for n in range(8))):
        workers.beat(
            engine,
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
            workers.claim_dead(engine, me=f"s{n}", app_version="v", now_ms=now, dead_after_ms=5000)
        )

    threads = [threading.Thread(target=survivor, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(c for claim in claims for c in claim) == ["dead"]
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(s.workers.c.recovered_by).where(s.workers.c.executor_id == "dead")
        ).scalar_one()
    assert row in {f"s{n}" for n in range(8)}


def test_a_worker_that_beats_again_is_live_and_claimable_again(engine: sa.Engine) -> None:
    from jejakekal.storage import workers

    def beat(executor_id: str, now_ms: int) -> None:
        workers.beat(
            engine,
            executor_id=executor_id,
            app_version="v",
            role="worker",
            host="h",
            pid=1,
            now_ms=now_ms,
        )

    beat("w", 0)
    beat("s", 10_000)
    first = workers.claim_dead(engine, me="s", app_version="v", now_ms=10_000, dead_after_ms=5000)
    beat("w", 20_000)
    beat("s", 20_000)
    live = workers.live(engine, app_version="v", now_ms=20_000)
    beat("s", 40_000)
    second = workers.claim_dead(engine, me="s", app_version="v", now_ms=40_000, dead_after_ms=5000)

    assert (first, live, second) == (["w"], ["s", "w"], ["w"])


def _node(node_id: str, attempt: int) -> dict[str, Any]:
    return {"node_id": node_id, "attempt": attempt, "exit_code": 0, "receipt": {"k": node_id}}


def _run_with_open_execute(engine: sa.Engine, run_id: str, status: str) -> None:
    """An intent run of `status` whose ExecuteST row is open, as DecideST leaves it."""
    from jejakekal.workflows import steps

    intent_id = run_id.replace("run", "intent")
    runs.insert_intent(engine, intent_id, {"goal": "g", "inputs": {}, "constraints": {}})
    with runs.write(engine) as conn:
        runs.insert_run(
            conn,
            id=run_id,
            kind="intent",
            intent_id=intent_id,
            workflow_id=intent_id,
            status=status,
            retry_count=0,
            request_hash="h",
            request={},
        )
        steps._open_execute(conn, run_id)


def _execute_row(engine: sa.Engine, run_id: str) -> tuple[str, dict[str, Any], str]:
    with engine.connect() as conn:
        step = conn.execute(
            sa.select(s.run_steps.c.phase, s.run_steps.c.output).where(
                s.run_steps.c.run_id == run_id, s.run_steps.c.step_id == "ExecuteST"
            )
        ).one()
        status = conn.execute(sa.select(s.runs.c.status).where(s.runs.c.id == run_id)).scalar()
    return step.phase, step.output, str(status)


def test_a_retry_keeps_finished_nodes_and_its_last_node_closes_the_run(engine: sa.Engine) -> None:
    """ADR 0006 through a retry: exec-1 succeeds, exec-2 gives up, the retry reruns only
    exec-2, and its transaction closes the step and the (still `queued`) run."""
    from jejakekal.workflows import steps

    _run_with_open_execute(engine, "run-1", "running")
    with runs.write(engine) as conn:
        steps.node_done(conn, "run-1", 2, _node("exec-1", 1))
    assert _execute_row(engine, "run-1")[0::2] == ("running", "running")

    with runs.write(engine) as conn:
        steps.execute_fail(conn, "run-1", 3, "exec-2 gave up")
    phase, output, status = _execute_row(engine, "run-1")
    assert (phase, status, output["attempt"]) == ("failed", "retries_exceeded", 3)
    assert [n["node_id"] for n in output["nodes"]] == ["exec-1"]

    with runs.write(engine) as conn:  # what POST /runs/{id}/retry writes
        runs.update_run(conn, "run-1", status="queued")
        runs.reopen_step(conn, "run-1", "ExecuteST")
        steps.node_done(conn, "run-1", 2, _node("exec-2", 1))
    phase, output, status = _execute_row(engine, "run-1")
    assert (phase, status, output["attempt"]) == ("done", "succeeded", 1)
    assert [n["node_id"] for n in output["nodes"]] == ["exec-1", "exec-2"]


def test_the_last_node_leaves_a_canceled_run_canceled(engine: sa.Engine) -> None:
    from jejakekal.workflows import steps

    _run_with_open_execute(engine, "run-2", "canceled")
    with runs.write(engine) as conn:
        steps.node_done(conn, "run-2", 1, _node("exec-1", 2))
    phase, output, status = _execute_row(engine, "run-2")
    assert (phase, status, output["attempt"]) == ("done", "canceled", 2)


def test_a_replayed_node_of_a_one_node_run_replaces_its_entry(engine: sa.Engine) -> None:
    """A one-node run merges nothing (no locked read): its replay still leaves one entry."""
    from jejakekal.workflows import steps

    _run_with_open_execute(engine, "run-3", "running")
    for attempt in (1, 2):
        with runs.write(engine) as conn:
            steps.node_done(conn, "run-3", 1, _node("exec-1", attempt))
    phase, output, status = _execute_row(engine, "run-3")
    assert (phase, status, output["attempt"]) == ("done", "succeeded", 2)
    assert [n["attempt"] for n in output["nodes"]] == [2]


def test_compile_takes_the_intent_from_the_run_input_or_reads_it(engine: sa.Engine) -> None:
    """A run input carries its intent's goal and inputs; one started before it did reads
    the intent, and both compile the same plan."""
    from jejakekal.workflows import steps

    _run_with_open_execute(engine, "run-4", "queued")
    base = {
        "run_id": "run-4",
        "intent_id": "intent-4",
        "recipe_name": "compile-default",
        "concurrency": 1,
        "steps": 2,
        "sandbox_minutes": 1.0,
    }
    with runs.write(engine) as conn:
        carried = steps.compile_st(conn, {**base, "goal": "g", "inputs": {}})
    with runs.write(engine) as conn:
        read = steps.compile_st(conn, base)
    assert carried == read
    assert len(carried["workload"]["nodes"]) == 2


def test_writes_refuse_a_column_the_table_lacks_and_write_nothing(engine: sa.Engine) -> None:
    """The write helpers take their columns from the values' names: a misspelt name
    must fail the transaction, not be dropped in silence."""
    _run_with_open_execute(engine, "run-3", "running")
    with pytest.raises(TypeError, match="statuss"), runs.write(engine) as conn:
        runs.update_run(conn, "run-3", statuss="failed")
    with pytest.raises(TypeError, match="seen"), runs.write(engine) as conn:
        runs.record_decision(conn, "run-3", "DecideST", {}, {})
        insert_ignore(conn, s.marks, run_id="run-3", step="x", seen=1)
    with pytest.raises(TypeError, match="last_stepp"), runs.write(engine) as conn:
        runs.record_step(
            conn,
            "run-3",
            "CompileST",
            phase="done",
            output={"attempt": 1},
            started_at=runs.now(),
            finished_at=runs.now(),
            last_stepp="CompileST",
        )
    with engine.connect() as conn:
        assert conn.execute(sa.select(s.runs.c.status)).scalars().all() == ["running"]
        steps_of_run = sa.select(s.run_steps.c.step_id).where(s.run_steps.c.run_id == "run-3")
        assert conn.execute(steps_of_run).scalars().all() == ["ExecuteST"]
        assert conn.execute(sa.select(sa.func.count()).select_from(s.opencode_calls)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(s.marks)).scalar() == 0


def test_an_upsert_sets_only_the_values_it_names(engine: sa.Engine) -> None:
    _run_with_open_execute(engine, "run-4", "running")
    with runs.write(engine) as conn:
        started = conn.execute(
            sa.select(s.run_steps.c.started_at).where(s.run_steps.c.run_id == "run-4")
        ).scalar_one()
        runs.record_step(
            conn,
            "run-4",
            "ExecuteST",
            phase="done",
            output={"attempt": 2},
            started_at=runs.now(),  # a creation value: the row exists, so it stays
            finished_at=runs.now(),
        )
        assert runs.update_run(conn, "run-4", only_if_status=("running",), error="e")
        assert not runs.update_run(conn, "run-4", only_if_status=("queued",), error="other")
    phase, output, status = _execute_row(engine, "run-4")
    assert (phase, output, status) == ("done", {"attempt": 2}, "running")
    with engine.connect() as conn:
        row = conn.execute(sa.select(s.run_steps.c.started_at)).scalar_one()
        assert row == started
        assert conn.execute(sa.select(s.runs.c.error)).scalar_one() == "e"


def test_a_step_read_for_update_holds_off_other_writers_until_it_commits(
    engine: sa.Engine,
) -> None:
    """execute_fail and reopen_step read ExecuteST's nodes before they write. A node that
    lands in between must wait, or the step's write would drop it (on SQLite the lock
    must be taken at the read, not at the first write)."""
    from jejakekal.workflows import steps

    _run_with_open_execute(engine, "run-3", "running")
    read = threading.Event()
    landed = threading.Event()

    def node_lands() -> None:
        read.wait(10)
        with runs.write(engine) as conn:
            steps.node_done(conn, "run-3", 3, _node("exec-2", 1))
        landed.set()

    racer = threading.Thread(target=node_lands)
    racer.start()
    with runs.write(engine) as conn:
        nodes = (runs.step_output_for_update(conn, "run-3", "ExecuteST") or {}).get("nodes")
        read.set()
        # Room for the racer to commit, were it not held off: it must not.
        assert not landed.wait(0.5)
        runs.record_step(
            conn,
            "run-3",
            "ExecuteST",
            phase="running",
            output={"attempt": None, "nodes": [*(nodes or []), _node("exec-1", 1)]},
            started_at=runs.now(),
            finished_at=None,
        )
    racer.join(30)

    _, output, _ = _execute_row(engine, "run-3")
    assert sorted(n["node_id"] for n in output["nodes"]) == ["exec-1", "exec-2"]
