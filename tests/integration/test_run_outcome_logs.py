"""What the operator's terminal shows of runs that end as runs may: one line per outcome.

`jejakekal api` runs in its own process, as `make run` starts it; its stderr goes to a
file. A rejected, a failed, a flaky and a cancelled run each leave lines naming the run
and no traceback (tracebacks are for faults of the product itself).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conftest import free_port

CLI = [sys.executable, "-m", "jejakekal.cli.main"]
ONE_NODE = {"workload": {"concurrency": 1, "steps": 1, "sandboxMinutes": 1}}


@dataclass
class Process:
    http: httpx.Client
    stderr: Path
    proc: subprocess.Popen[bytes]

    def run(self, goal: str) -> str:
        intent = self.http.post("/intents", json={"goal": goal, "inputs": {}, "constraints": {}})
        started = self.http.post(f"/intents/{intent.json()['intentId']}/run", json=ONE_NODE)
        assert started.status_code == 202, started.text
        return str(started.json()["runId"])

    def wait(self, run_id: str, status: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.http.get(f"/runs/{run_id}").json()["status"] != status:
            assert time.monotonic() < deadline, f"{run_id} never reached {status}"
            time.sleep(0.05)

    def wait_op(self, run_id: str, name: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(
            op["function_name"] == name
            for op in self.http.get(f"/runs/{run_id}").json()["timeline"]
        ):
            assert time.monotonic() < deadline, f"{run_id} never recorded {name}"
            time.sleep(0.05)

    def stop(self) -> str:
        """Stop the process as Ctrl-C would, and return everything it wrote to stderr."""
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.stderr.read_text()


@pytest.fixture
def api_process(database_url: str, tmp_path: Path) -> Iterator[Process]:
    port = free_port()
    env = {
        **os.environ,
        "JEJAKEKAL_HOME": str(tmp_path / "home"),
        "JEJAKEKAL_DATABASE_URL": database_url,
        "API_PORT": str(port),
        "JEJAKEKAL_QUEUE_POLL_SEC": "0.02",
        "JEJAKEKAL_STEP_RETRY_INTERVAL_SEC": "0.05",
    }
    stderr = tmp_path / "stderr.log"
    with stderr.open("wb") as sink:
        proc = subprocess.Popen([*CLI, "api"], env=env, stdout=subprocess.DEVNULL, stderr=sink)
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=30) as http:
        try:
            ready = subprocess.run(
                [*CLI, "wait-health", f"{base}/healthz", "--timeout", "30"],
                env=env,
                capture_output=True,
                check=False,
            )
            assert ready.returncode == 0, ready.stderr
            yield Process(http, stderr, proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _lines_of(log: str, run_id: str) -> list[str]:
    return [line for line in log.splitlines() if f"run {run_id} " in line]


def test_expected_run_outcomes_log_one_line_each_and_no_traceback(api_process: Process) -> None:
    rejected = api_process.run("reject this plan")
    failed = api_process.run("fail me")
    flaky = api_process.run("flaky node")
    canceled = api_process.run("slow node")
    api_process.wait(rejected, "failed")
    api_process.wait(failed, "retries_exceeded")
    api_process.wait(flaky, "succeeded")
    api_process.wait_op(canceled, "execute_node")  # the slow node sleeps 2 s first
    cancel = api_process.http.post(f"/runs/{canceled}/cancel")
    api_process.wait(canceled, "canceled")

    log = api_process.stop()

    assert cancel.status_code == 202, cancel.text
    assert "Traceback" not in log, log
    rejected_lines = _lines_of(log, rejected)
    assert len(rejected_lines) == 1
    assert f"run {rejected} DecideST: rejected on attempt 1: " in rejected_lines[0]
    failed_lines = _lines_of(log, failed)
    assert [("retrying" in line, "giving up" in line) for line in failed_lines[:3]] == [
        (True, False),
        (True, False),
        (False, True),
    ]
    assert len(failed_lines) == 4
    assert (
        f"run {failed} ExecuteST: retries_exceeded: node exec-1 failed on purpose"
        in (failed_lines[3])
    )
    assert failed_lines[3].endswith("after 3 attempts")
    flaky_lines = _lines_of(log, flaky)
    assert len(flaky_lines) == 1
    assert "attempt 1 of 3 failed, retrying" in flaky_lines[0]
    canceled_lines = _lines_of(log, canceled)
    assert len(canceled_lines) == 1
    assert canceled_lines[0].endswith(f"run {canceled} ExecuteST: canceled")
