"""The product as an operator runs it: `jejakekal api` in its own process, `jejakekal sql`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import free_port

CLI = [sys.executable, "-m", "jejakekal.cli.main"]


def _env(database_url: str, home: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "JEJAKEKAL_HOME": str(home),
        "JEJAKEKAL_DATABASE_URL": database_url,
        "API_PORT": str(port),
        "JEJAKEKAL_QUEUE_POLL_SEC": "0.02",
    }


def _cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def api_process(database_url: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    env = _env(database_url, tmp_path / "home", port)
    proc = subprocess.Popen(
        [*CLI, "api"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        ready = _cli(env, "wait-health", f"{base}/healthz", "--timeout", "30")
        assert ready.returncode == 0, ready.stderr
        yield base, env
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_walkthrough_b_against_the_api_process_and_sql_oracle(
    api_process: tuple[str, dict[str, str]],
) -> None:
    base, env = api_process
    with httpx.Client(base_url=base, timeout=30) as http:
        intent = http.post("/intents", json={"goal": "demo chain", "inputs": {}, "constraints": {}})
        intent_id = intent.json()["intentId"]
        body = {
            "traceId": "po-demo",
            "recipeName": "compile-default",
            "workload": {"concurrency": 1, "steps": 2, "sandboxMinutes": 1},
        }
        run_id = http.post(f"/intents/{intent_id}/run", json=body).json()["runId"]
        deadline = time.monotonic() + 30
        while http.get(f"/runs/{intent_id}").json()["status"] != "succeeded":
            assert time.monotonic() < deadline, "run did not succeed in 30 s"
            time.sleep(0.05)
        view = http.get(f"/runs/{run_id}").json()
    assert view["workflowId"] == intent_id
    assert [s["stepId"] for s in view["steps"]] == [
        "CompileST",
        "ApplyPatchST",
        "DecideST",
        "ExecuteST",
    ]
    rows = _cli(
        env, "sql", "--json", f"SELECT step_id, output FROM app.run_steps WHERE run_id='{run_id}'"
    )
    assert rows.returncode == 0, rows.stderr
    attempts = {
        r["step_id"]: json.loads(r["output"])["attempt"]
        if isinstance(r["output"], str)
        else r["output"]["attempt"]
        for r in json.loads(rows.stdout)
    }
    assert attempts == {"CompileST": 1, "ApplyPatchST": 1, "DecideST": 1, "ExecuteST": 1}
    status = _cli(
        env,
        "sql",
        "--json",
        f"SELECT status FROM dbos.workflow_status WHERE workflow_uuid='{intent_id}'",
    )
    assert json.loads(status.stdout) == [{"status": "SUCCESS"}]


def test_second_server_on_a_busy_port_fails_at_once_with_one_line(
    api_process: tuple[str, dict[str, str]],
) -> None:
    _, env = api_process
    started = time.monotonic()
    result = _cli(env, "api", timeout=30)
    assert result.returncode != 0
    assert "already in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 15


def test_sql_refuses_to_write(api_process: tuple[str, dict[str, str]]) -> None:
    _, env = api_process
    result = _cli(env, "sql", "DELETE FROM app.recipes")
    assert result.returncode == 1
    assert result.stderr.startswith("error: sql failed")
    count = _cli(env, "sql", "--json", "SELECT COUNT(*) AS n FROM app.recipes")
    assert json.loads(count.stdout) == [{"n": 6}]  # the seeded recipes, all still there


def test_wait_health_fails_non_zero_when_nothing_listens(tmp_path: Path) -> None:
    env = _env("sqlite:///unused.sqlite", tmp_path, free_port())
    url = f"http://127.0.0.1:{free_port()}/healthz"
    result = _cli(env, "wait-health", url, "--timeout", "0.5", "--interval", "0.1")
    assert result.returncode == 1
    assert "not healthy" in result.stderr
