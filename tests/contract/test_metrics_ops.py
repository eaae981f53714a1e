"""The fleet as operators see it: `GET /metrics` (Prometheus text), `GET /ops` (JSON) and
the UI's operations page, each read from the shared database, on SQLite and PostgreSQL.

Runs, gates and workers are written as the product writes them, with known kinds,
statuses and times; SQL is the oracle where a count could drift.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import Api, insert_intent_run, serve_app_in_thread
from jejakekal.app import create_api_app
from jejakekal.bootstrap import Kernel
from jejakekal.config import Settings
from jejakekal.domain.gates import Gate
from jejakekal.domain.lifecycle import RunStatus
from jejakekal.storage import gates, workers
from jejakekal.storage.database import Database
from jejakekal.web import HttpClient, InProcessClient, create_ui_app
from jejakekal.web.csrf import COOKIE

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(http: httpx.Client) -> Samples:
    reply = http.get("/metrics")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def labelled(samples: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


@pytest.fixture
def db(api: Api) -> Iterator[Database]:
    opened = Database.open(api.settings.resolved_database_url, pool_size=2)
    try:
        yield opened
    finally:
        opened.dispose()


def open_gate(db: Database, run_id: str, *, opened_ago_s: float) -> None:
    """A gate a run opened `opened_ago_s` ago, as the run's step writes it."""
    gate = Gate(key="go", question="Ship it?")
    opened_at = datetime.now(UTC) - timedelta(seconds=opened_ago_s)
    with db.write() as tx:
        gates.open_gate(
            tx,
            gate_id=f"{run_id}:AwaitInput:go",
            run_id=run_id,
            gate=gate,
            iteration=1,
            opened_at=opened_at,
            deadline_at=None,
        )


def beat(db: Database, executor_id: str, *, seen_ago_ms: int) -> None:
    workers.beat(
        db,
        executor_id=executor_id,
        app_version="an-older-version",
        role="worker",
        host="elsewhere",
        pid=4242,
        now_ms=int(time.time() * 1000) - seen_ago_ms,
    )


def arrange_fleet(api: Api, db: Database) -> str:
    """Two failed intent runs, one succeeded, one waiting at a gate opened 90 s ago, one
    cancelled with its gate left open, a finished document run, a worker silent for a
    minute and one that shut down. Returns the document run's id."""
    for run_id, status in [
        ("run-ops-failed-1", RunStatus.FAILED),
        ("run-ops-failed-2", RunStatus.FAILED),
        ("run-ops-ok", RunStatus.SUCCEEDED),
        ("run-ops-waiting", RunStatus.WAITING_INPUT),
        ("run-ops-canceled", RunStatus.CANCELED),
    ]:
        insert_intent_run(db, run_id, status)
    open_gate(db, "run-ops-waiting", opened_ago_s=90)
    # A cancelled run's gate stays open for a resume, but nobody is asked to answer it.
    open_gate(db, "run-ops-canceled", opened_ago_s=600)
    beat(db, "worker-silent", seen_ago_ms=60_000)
    beat(db, "worker-gone", seen_ago_ms=0)
    workers.forget(db, "worker-gone", host="elsewhere", pid=4242)
    started = api.client.post("/runs", json={"source": "alpha beta gamma"})
    assert started.status_code == 202, started.text
    doc_run = str(started.json()["run_id"])
    api.wait_status(doc_run, "done")
    return doc_run


def test_metrics_carry_runs_queues_workers_gates_and_step_durations(api: Api, db: Database) -> None:
    arrange_fleet(api, db)

    samples = scrape(api.client)

    runs = labelled(samples, "jejakekal_runs")
    assert value(samples, "jejakekal_runs", kind="intent", status="failed") == 2
    assert value(samples, "jejakekal_runs", kind="intent", status="succeeded") == 1
    assert value(samples, "jejakekal_runs", kind="intent", status="waiting_input") == 1
    assert value(samples, "jejakekal_runs", kind="intent", status="canceled") == 1
    assert value(samples, "jejakekal_runs", kind="doc", status="done") == 1
    assert value(samples, "jejakekal_runs", kind="doc", status="error") == 0
    assert len(runs) == 7 + 4  # every status of both kinds' vocabularies, zeros included
    assert sum(runs.values()) == api.count("SELECT COUNT(*) AS n FROM app.runs") == 6
    for queue in ("intentQ", "sandboxQ", "docQ"):
        for state in ("enqueued", "pending"):
            assert value(samples, "jejakekal_queue_depth", queue=queue, status=state) == 0
    assert value(samples, "jejakekal_workers_alive") == 1  # this API's own worker
    ages = labelled(samples, "jejakekal_worker_heartbeat_age_seconds")
    assert {dict(labels)["worker"] for labels in ages} == {"local", "worker-silent"}
    assert value(samples, "jejakekal_worker_heartbeat_age_seconds", worker="local") < 5
    silent = value(samples, "jejakekal_worker_heartbeat_age_seconds", worker="worker-silent")
    assert 60 <= silent < 120
    assert value(samples, "jejakekal_open_gates") == 1
    assert 90 <= value(samples, "jejakekal_open_gate_oldest_age_seconds") < 150
    histogram = "jejakekal_step_duration_seconds"
    steps = {dict(labels)["step"] for labels in labelled(samples, histogram + "_count")}
    assert {"prepare", "side-effect", "finalize"} <= steps
    assert not any(step.startswith("DBOS.") for step in steps)
    count = value(samples, histogram + "_count", step="prepare")
    buckets = sorted(
        (float(dict(labels)["le"]), n)
        for labels, n in labelled(samples, histogram + "_bucket").items()
        if dict(labels)["step"] == "prepare"
    )
    assert count >= 1
    assert buckets[-1] == (float("inf"), count)
    assert [n for _, n in buckets] == sorted(n for _, n in buckets)  # cumulative
    assert value(samples, histogram + "_sum", step="prepare") >= 0


def test_ops_answers_the_same_fleet_as_json(api: Api, db: Database) -> None:
    doc_run = arrange_fleet(api, db)

    reply = api.client.get("/ops")

    assert reply.status_code == 200, reply.text
    fleet: dict[str, Any] = reply.json()
    assert set(fleet) >= {
        "atMs", "runs", "queues", "workers", "workersAlive", "deadAfterSeconds",
        "openGates", "failedTotal", "failed", "stepSample", "steps",
    }  # fmt: skip
    assert {"kind": "doc", "status": "done", "count": 1} in fleet["runs"]
    assert [q["queue"] for q in fleet["queues"]] == ["docQ", "intentQ", "sandboxQ"]
    by_id = {w["executorId"]: w for w in fleet["workers"]}
    assert by_id["local"]["alive"] is True and fleet["workersAlive"] == 1
    assert (by_id["worker-silent"]["alive"], by_id["worker-gone"]["ageSeconds"]) == (False, None)
    assert by_id["worker-gone"]["lastSeenMs"] == 0
    gates_shown = fleet["openGates"]
    assert gates_shown["count"] == 1
    [gate] = gates_shown["items"]
    assert (gate["runId"], gate["key"], gate["question"]) == ("run-ops-waiting", "go", "Ship it?")
    assert gates_shown["oldestOpenedAt"] == gate["openedAt"]
    assert fleet["failedTotal"] == 2
    assert {r["runId"] for r in fleet["failed"]} == {"run-ops-failed-1", "run-ops-failed-2"}
    assert all(r["kind"] == "intent" and r["status"] == "failed" for r in fleet["failed"])
    assert all(r["at"] for r in fleet["failed"])
    prepare = next(s for s in fleet["steps"] if s["step"] == "prepare")
    assert len(prepare["buckets"]) == 14 and prepare["buckets"][-1] <= prepare["count"]
    assert doc_run not in {r["runId"] for r in fleet["failed"]}


def test_an_api_without_workers_counts_what_waits_on_the_queues(settings: Settings) -> None:
    """A shim API runs no workflows: what it starts waits on the queues, and its metrics
    say so, read from the database rather than from the process."""
    server, thread, port = serve_app_in_thread(create_api_app(settings, "shim"))
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as shim:
            shim_api = Api(f"http://127.0.0.1:{port}", shim, settings)
            shim_api.start(shim_api.create_intent("wait for a worker"))

            samples = scrape(shim)
            table = "workflow_status" if shim_api.is_sqlite else "dbos.workflow_status"
            waiting = shim_api.count(
                f"SELECT COUNT(*) AS n FROM {table} WHERE queue_name = 'intentQ'"
                " AND status = 'ENQUEUED'"
            )
    finally:
        server.should_exit = True
        thread.join(timeout=30)

    assert value(samples, "jejakekal_queue_depth", queue="intentQ", status="enqueued") == 1
    assert waiting == 1
    assert value(samples, "jejakekal_queue_depth", queue="intentQ", status="pending") == 0
    assert value(samples, "jejakekal_runs", kind="intent", status="queued") == 1
    assert value(samples, "jejakekal_workers_alive") == 0


@pytest.fixture
def ui_http(api: Api) -> Iterator[httpx.Client]:
    """The UI in split mode, in front of the test's API."""
    server, thread, port = serve_app_in_thread(
        create_ui_app(api.settings, HttpClient(api.base_url))
    )
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        try:
            yield http
        finally:
            server.should_exit = True
            thread.join(timeout=30)


def test_the_operations_page_shows_queues_workers_gates_and_failed_runs(
    api: Api, db: Database, ui_http: httpx.Client
) -> None:
    arrange_fleet(api, db)

    home = ui_http.get("/")
    page = ui_http.get("/ops")
    fragment = ui_http.get("/fragments/ops", headers={"HX-Request": "true"})

    assert 'id="nav-ops" href="/ops">' in home.text
    assert page.status_code == 200, page.text
    html = page.text
    assert 'id="nav-ops" href="/ops" aria-current="page"' in html
    for table in ("ops-runs", "ops-queues", "ops-workers", "ops-gates", "ops-failed"):
        assert f'<table id="{table}"' in html, table
    assert '<tr data-queue="intentQ">' in html
    assert '<tr data-worker="local" data-state="alive">' in html
    assert '<tr data-worker="worker-silent" data-state="dead">' in html
    assert '<tr data-worker="worker-gone" data-state="stopped">' in html
    assert '<a class="ops-run-link" href="/runs/run-ops-waiting">' in html
    assert '<a class="ops-run-link" href="/runs/run-ops-canceled">' not in html
    assert '<a class="ops-run-link" href="/runs/run-ops-failed-1">' in html
    assert 'action="/runs/batch"' in html and 'id="ops-retry-all"' in html
    assert 'data-matched="2"' in html
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="ops"')


def test_the_embedded_operations_page_reads_the_kernel_in_process(kernel: Kernel) -> None:
    insert_intent_run(kernel.db, "run-ops-failed-9", RunStatus.FAILED)
    server, thread, port = serve_app_in_thread(
        create_ui_app(kernel.settings, InProcessClient(kernel.control))
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            page = http.get("/ops")
    finally:
        server.should_exit = True
        thread.join(timeout=30)

    assert page.status_code == 200, page.text
    assert '<tr data-run-id="run-ops-failed-9" data-status="failed">' in page.text
    assert '<tr data-worker="local" data-state="alive">' in page.text


def test_retry_all_failed_counts_first_then_retries_each_failed_run_once(
    api: Api, ui_http: httpx.Client
) -> None:
    failed = [str(api.start(api.create_intent(f"fail me {i}"))["runId"]) for i in range(2)]
    for run_id in failed:
        api.wait_status(run_id, "retries_exceeded", timeout=120)
    page = ui_http.get("/ops").text
    token = ui_http.cookies[COOKIE]

    retried = ui_http.post(
        "/runs/batch",
        data={"csrf_token": token, "reason": "disk freed"},
        headers={"HX-Request": "true"},
    )

    assert 'data-matched="2"' in page and 'id="ops-retry-unavailable"' not in page
    assert retried.status_code == 200, retried.text
    assert "Retried 2 of 2 failed runs." in retried.text
    rows = api.sql(
        "SELECT run_id, action, origin, reason, batch_id FROM app.operator_actions ORDER BY run_id"
    )
    assert [(r["run_id"], r["action"], r["origin"], r["reason"]) for r in rows] == [
        (run_id, "retry", "ui", "disk freed") for run_id in sorted(failed)
    ]
    assert len({r["batch_id"] for r in rows}) == 1 and rows[0]["batch_id"]
