"""Split topology: an API-only shim, separate workers, and a survivor recovering a
SIGKILLed worker's runs. Every process is a real `jejakekal` process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import free_port
from jejakekal import processes
from jejakekal.storage.console import run_readonly
from jejakekal.storage.workers import DEAD_AFTER_SEC

# A dead worker is noticed after DEAD_AFTER_SEC, its runs are re-enqueued at the next
# heartbeat and dequeued within DBOS's internal-queue poll: the documented bound, with
# slack for a 2-core machine running the whole suite.
RECOVERY_BOUND_SEC = DEAD_AFTER_SEC + 25


class Fleet:
    """Processes of one deployment: same database, same DBOS__APPVERSION."""

    def __init__(self, database_url: str, home: Path) -> None:
        self.database_url = database_url
        self.home = home
        self.procs: list[subprocess.Popen[bytes]] = []
        self.version = f"v-{uuid.uuid4().hex[:8]}"

    def env(self, **extra: str) -> dict[str, str]:
        return processes.process_env(
            self.database_url,
            self.home,
            JEJAKEKAL_QUEUE_POLL_SEC="0.02",
            DBOS__APPVERSION=self.version,
            **extra,
        )

    def spawn(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        proc = processes.spawn(list(args), self.env(**env))
        self.procs.append(proc)
        return proc

    def shim(self) -> httpx.Client:
        port = free_port()
        self.spawn("api", "--shim", API_PORT=str(port))
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: processes.is_healthy(base), "the shim to answer /healthz")
        return httpx.Client(base_url=base, timeout=30)

    def worker(self, executor_id: str) -> subprocess.Popen[bytes]:
        proc = self.spawn("worker", JEJAKEKAL_EXECUTOR_ID=executor_id)
        wait_for(lambda: executor_id in self.live_workers(), f"worker {executor_id} to beat")
        return proc

    def sql(self, query: str) -> list[dict[str, Any]]:
        columns, rows = run_readonly(self.database_url, query)
        return [dict(zip(columns, r, strict=True)) for r in rows]

    def live_workers(self) -> list[str]:
        now_ms = int(time.time() * 1000) - int(DEAD_AFTER_SEC * 1000)
        rows = self.sql(
            f"SELECT executor_id FROM app.workers WHERE app_version = '{self.version}' "
            f"AND last_seen_ms >= {now_ms}"
        )
        return [r["executor_id"] for r in rows]

    def stop(self) -> None:
        processes.stop(self.procs)


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def wait_status(client: httpx.Client, run_id: str, wanted: str, timeout: float) -> dict[str, Any]:
    view: dict[str, Any] = {}

    def reached() -> bool:
        nonlocal view
        view = client.get(f"/runs/{run_id}").json()
        return view.get("status") == wanted

    wait_for(reached, f"run {run_id} to be {wanted} (last: {view})", timeout)
    return view


@pytest.fixture
def fleet(database_url: str, tmp_path: Path) -> Iterator[Fleet]:
    deployment = Fleet(database_url, tmp_path / "home")
    try:
        yield deployment
    finally:
        deployment.stop()


def test_shim_never_imports_a_workflow_module(database_url: str, tmp_path: Path) -> None:
    script = """
import sys
from fastapi.testclient import TestClient
from jejakekal.app import create_api_app
from jejakekal.config import load_settings
app = create_api_app(load_settings(), "shim")
with TestClient(app, base_url="http://127.0.0.1") as client:  # a Host the API answers
    assert client.get("/healthz").json()["role"] == "shim"
    intent = client.post("/intents", json={"goal": "g", "inputs": {}, "constraints": {}})
    assert client.post(f"/intents/{intent.json()['intentId']}/run", json={}).status_code == 202
    assert client.post("/runs", json={"source": "a doc"}).status_code == 202
loaded = sorted(m for m in sys.modules if m.startswith("jejakekal.workflows"))
print(",".join(loaded) or "none")
"""
    env = {
        **os.environ,
        "JEJAKEKAL_HOME": str(tmp_path / "home"),
        "JEJAKEKAL_DATABASE_URL": database_url,
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "none"


def test_a_shim_queues_runs_that_a_worker_started_later_executes(fleet: Fleet) -> None:
    api = fleet.shim()
    intent = api.post("/intents", json={"goal": "split", "inputs": {}, "constraints": {}})
    run = api.post(f"/intents/{intent.json()['intentId']}/run", json={}).json()
    doc = api.post("/runs", json={"source": "split document", "sleepMs": 0}).json()

    queued = api.get(f"/runs/{run['runId']}").json()
    health = api.get("/healthz").json()
    fleet.worker("w-late")

    assert queued["status"] == "queued"
    assert "no live worker" in queued["nextAction"]
    assert (health["role"], health["workers_alive"], health["queues"]) == ("shim", 0, None)
    assert wait_status(api, run["runId"], "succeeded", 60)["dbos_status"] == "SUCCESS"
    assert wait_status(api, doc["run_id"], "done", 60)["dbos_status"] == "SUCCESS"
    assert api.get("/healthz").json()["workers"] == ["w-late"]


def test_a_survivor_recovers_the_runs_of_a_sigkilled_worker(fleet: Fleet) -> None:
    api = fleet.shim()
    workers = {name: fleet.worker(name) for name in ("w-one", "w-two")}
    intent = api.post("/intents", json={"goal": "slow chaos", "inputs": {}, "constraints": {}})
    run_id = api.post(f"/intents/{intent.json()['intentId']}/run", json={}).json()["runId"]
    child = f"{run_id}:exec-1"

    def child_running() -> bool:
        rows = fleet.sql(
            f"SELECT executor_id FROM dbos.workflow_status "
            f"WHERE workflow_uuid = '{child}' AND status = 'PENDING'"
        )
        return bool(rows)

    wait_for(child_running, "the execution node to be running")
    victim = fleet.sql(
        f"SELECT executor_id FROM dbos.workflow_status WHERE workflow_uuid = '{child}'"
    )
    victim_id = victim[0]["executor_id"]
    workers[victim_id].send_signal(signal.SIGKILL)
    killed_at = time.monotonic()

    view = wait_status(api, run_id, "succeeded", RECOVERY_BOUND_SEC)
    took = time.monotonic() - killed_at
    survivor = next(name for name in workers if name != victim_id)
    recovered = fleet.sql(f"SELECT recovered_by FROM app.workers WHERE executor_id = '{victim_id}'")
    duplicates = fleet.sql("SELECT count(*) AS n FROM app.mock_receipts WHERE seen_count > 1")
    attempts = fleet.sql(f"SELECT step_id, output FROM app.run_steps WHERE run_id = '{run_id}'")

    assert view["dbos_status"] == "SUCCESS"
    assert took < RECOVERY_BOUND_SEC
    assert recovered == [{"recovered_by": survivor}]
    assert int(duplicates[0]["n"]) == 0
    assert {r["step_id"] for r in attempts} == {
        "CompileST",
        "ApplyPatchST",
        "DecideST",
        "ExecuteST",
    }
