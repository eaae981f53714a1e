"""The agent loop's SIGKILL drill (issue 22): `jejakekal serve` killed while the second
iteration's planner call is in flight, and again while the second wave's node runs.

After each restart (same database, home and executor id) DBOS recovers the run. No
planner call that returned and no node that finished happens twice, counted in SQL,
and the run ends with the answer it would have given without the kills. Both backends.

The model is a scripted OpenAI-compatible server in its own process
(tests/openai_loopback.py). It serves replies in the order requests arrive, and a
request killed in flight is sent again after the restart; so the second iteration's
plan is scripted twice: first slow (the kill lands while the server holds it), then
at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from conftest import q, wait_run_status
from jejakekal import processes
from jejakekal.storage.console import run_readonly

T = TypeVar("T")

LOOPBACK = Path(__file__).parents[1] / "openai_loopback.py"
# Longer than the time from seeing the call arrive to the kill; the node sleeps as long.
SLOW_SEC = 4.0
START_SEC = 60.0
WAIT_SEC = 60.0


def _wave(command: str) -> dict[str, Any]:
    node = {"purpose": f"run {command}", "command": command, "expected_outputs": []}
    return {"done": False, "answer": None, "nodes": [node]}


SECOND_WAVE = _wave(f"sleep {SLOW_SEC:g}; echo 4 > out.txt; echo 4")
SCRIPT = {
    "replies": [
        {"answer": _wave("echo 3")},
        {"answer": SECOND_WAVE, "delay": SLOW_SEC},  # CompileST#2, killed in flight
        {"answer": SECOND_WAVE},  # CompileST#2 again, after the restart
        {"answer": {"done": True, "answer": "7", "nodes": []}},
    ],
    # A call beyond the script is an error the run cannot hide.
    "default": {"status": 500, "body": "no reply scripted"},
}


def _wait(probe: Callable[[], T | None], what: str, timeout: float = WAIT_SEC) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout:g}s waiting for {what}"
        time.sleep(0.05)


class ModelServer:
    """tests/openai_loopback.py as a process, serving SCRIPT."""

    def __init__(self, scratch: Path) -> None:
        script = scratch / "script.json"
        script.write_text(json.dumps(SCRIPT))
        self.process = subprocess.Popen(
            [sys.executable, str(LOOPBACK), "--port", "0", "--script", str(script)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, "the model server exited before it listened"
        self.url = str(json.loads(line)["url"])

    def requests(self) -> list[dict[str, Any]]:
        listing: list[dict[str, Any]] = httpx.get(f"{self.url}/calls", timeout=5).json()["requests"]
        return listing

    def calls(self) -> int:
        return len(self.requests())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class Serve:
    """`jejakekal serve` (API, worker and UI in one process) that the test SIGKILLs.

    Each start takes fresh ports (a killed process's may linger in TIME_WAIT) and the
    same executor id, so the new process recovers the runs the killed one left.
    """

    def __init__(self, env: dict[str, str], home: Path) -> None:
        self.env = env
        self.home = home
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.http = httpx.Client(timeout=30)

    def start(self) -> None:
        api_port, ui_port = processes.free_port(), processes.free_port()
        self.starts += 1
        log = self.home / f"serve-{self.starts}.log"
        args = ["serve", "--port", str(api_port), "--ui-port", str(ui_port)]
        self.process = processes.spawn(args, self.env, log, own_session=True)
        base = f"http://127.0.0.1:{api_port}"
        processes.wait_healthy(base, self.process, START_SEC, lambda: processes.log_tail(log))
        self.http.close()
        self.http = httpx.Client(base_url=base, timeout=30)

    def kill9(self) -> None:
        assert self.process is not None and self.process.poll() is None, "serve is not running"
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        self.http.close()
        if self.process is not None:
            processes.stop([self.process])


@pytest.fixture
def model(tmp_path: Path) -> Iterator[ModelServer]:
    server = ModelServer(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def serve(database_url: str, tmp_path: Path, model: ModelServer) -> Iterator[Serve]:
    home = tmp_path / "home"
    home.mkdir()
    env = processes.process_env(
        database_url,
        home,
        JEJAKEKAL_EXECUTOR_ID="agent-drill",
        JEJAKEKAL_OPENAI_BASE_URL=model.url,
        JEJAKEKAL_OPENAI_MODEL="drill",
        JEJAKEKAL_QUEUE_POLL_SEC="0.02",
        JEJAKEKAL_STEP_RETRY_INTERVAL_SEC="0.05",
    )
    process = Serve(env, home)
    try:
        yield process
    finally:
        process.stop()


def _sql(database_url: str, template: str, **ids: str) -> list[dict[str, Any]]:
    columns, rows = run_readonly(database_url, q(template, **ids))
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _ids(database_url: str, template: str, run_id: str) -> list[str]:
    """The ids a query selects for the run, each without its `<run_id>:` prefix."""
    rows = _sql(database_url, template, run=run_id)
    return sorted(str(next(iter(r.values()))).removeprefix(f"{run_id}:") for r in rows)


def _node_running(database_url: str, run_id: str, node_id: str) -> bool:
    """The second wave is open and its node's child workflow has been dequeued."""
    step = _sql(
        database_url,
        "SELECT phase FROM app.run_steps WHERE run_id = '{run}' AND step_id = 'ExecuteST#2'",
        run=run_id,
    )
    child = _sql(
        database_url,
        "SELECT status FROM dbos.workflow_status WHERE workflow_uuid = '{run}:{node}'",
        run=run_id,
        node=node_id,
    )
    return step == [{"phase": "running"}] and child == [{"status": "PENDING"}]


@pytest.mark.timeout(150)
def test_sigkill_mid_call_and_mid_node_repeats_no_finished_call_or_node(
    database_url: str, serve: Serve, model: ModelServer
) -> None:
    serve.start()
    intent = serve.http.post(
        "/intents", json={"goal": "add two numbers", "inputs": {}, "constraints": {}}
    )
    assert intent.status_code == 201, intent.text
    started = serve.http.post(
        f"/intents/{intent.json()['intentId']}/run", json={"recipeName": "agent"}
    )
    assert started.status_code == 202, started.text
    run_id = str(started.json()["runId"])
    calls_of = "SELECT id FROM app.opencode_calls WHERE run_id = '{run}' AND id LIKE '%:plan:%'"

    # Kill 1: CompileST#2's call has reached the model, which holds its answer.
    _wait(lambda: model.calls() >= 2, "the second planner call")
    serve.kill9()
    assert _ids(database_url, calls_of, run_id) == ["CompileST:plan:1"]

    # Kill 2: the second wave's node is running its `sleep`.
    serve.start()
    _wait(lambda: _node_running(database_url, run_id, "exec-2.1"), "the second wave's node")
    time.sleep(1.0)
    serve.kill9()
    results_of = "SELECT id FROM app.artifacts WHERE run_id = '{run}' AND type = 'node-result'"
    assert _ids(database_url, results_of, run_id) == ["exec-1:a1:result"]

    serve.start()
    wait_run_status(serve.http, run_id, "succeeded", timeout=WAIT_SEC)

    answer = serve.http.get(f"/artifacts/{run_id}:answer").json()
    assert answer["content"] == "7"
    # Each planner call that returned is in the ledger once, in both of its tables.
    plans = ["CompileST#2:plan:1", "CompileST#3:plan:1", "CompileST:plan:1"]
    assert _ids(database_url, calls_of, run_id) == plans
    effects_of = (
        "SELECT effect_key FROM app.effects WHERE run_id = '{run}' AND effect_key LIKE '%:plan:%'"
    )
    assert _ids(database_url, effects_of, run_id) == plans
    # Each node delivered its receipt once; the first wave's node ran once.
    receipts = _sql(
        database_url,
        "SELECT receipt_key, seen_count FROM app.mock_receipts WHERE receipt_key LIKE '{run}:%'",
        run=run_id,
    )
    assert {r["receipt_key"]: r["seen_count"] for r in receipts} == {
        f"{run_id}:ExecuteST:exec-1": 1,
        f"{run_id}:ExecuteST#2:exec-2.1": 1,
    }
    results = _ids(database_url, results_of, run_id)
    assert [r for r in results if r.startswith("exec-1:")] == ["exec-1:a1:result"]
    # The killed attempt wrote nothing, so the node ran to its end once, after the restart.
    assert [r for r in results if r.startswith("exec-2.1:")] == ["exec-2.1:a1:result"]
    steps = _ids(database_url, "SELECT step_id FROM app.run_steps WHERE run_id = '{run}'", run_id)
    assert {"ObserveST", "ObserveST#2", "AnswerST"} <= set(steps)
    # Four requests reached the model: three answered calls, and the one killed in
    # flight, sent again (the same question) after the restart.
    requests = model.requests()
    assert len(requests) == 4
    assert requests[1] == requests[2]
