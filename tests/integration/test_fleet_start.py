"""Processes that share a database: a fleet starting at once on a fresh database, and one
executor id per live process. Every process is a real `jejakekal` process."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import free_port
from jejakekal import processes
from jejakekal.storage.console import run_readonly
from jejakekal.storage.migrations import MIGRATIONS

START_TIMEOUT_SEC = 90.0


class Procs:
    """Real `jejakekal` processes on one database and home, stopped at the end."""

    def __init__(self, database_url: str, home: Path, logs: Path) -> None:
        self.database_url = database_url
        self.home = home
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log_paths: dict[int, Path] = {}
        self.spawned = 0

    def env(self, **extra: str) -> dict[str, str]:
        return processes.process_env(
            self.database_url, self.home, JEJAKEKAL_QUEUE_POLL_SEC="0.02", **extra
        )

    def spawn(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        self.spawned += 1
        path = self.logs / f"p{self.spawned}-{'-'.join(args)}.log"
        proc = processes.spawn(list(args), self.env(**env), path)
        self.procs.append(proc)
        self.log_paths[proc.pid] = path
        return proc

    def log_of(self, proc: subprocess.Popen[bytes]) -> str:
        return self.log_paths[proc.pid].read_text()

    def sql(self, query: str) -> list[tuple[object, ...]]:
        return [tuple(r) for r in run_readonly(self.database_url, query)[1]]

    def stop(self) -> None:
        processes.stop(self.procs)


@pytest.fixture
def procs(database_url: str, tmp_path: Path) -> Iterator[Procs]:
    logs = tmp_path / "logs"
    logs.mkdir()
    started = Procs(database_url, tmp_path / "home", logs)
    try:
        yield started
    finally:
        started.stop()


def _wait(check: object, what: str, procs: Procs, timeout: float = START_TIMEOUT_SEC) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        exited = [p for p in procs.procs if p.poll() is not None]
        if exited:
            raise AssertionError(f"a process exited: {procs.log_of(exited[0])[-2000:]}")
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def test_six_processes_starting_at_once_on_a_fresh_database_all_come_up(
    procs: Procs,
) -> None:
    ports = [free_port() for _ in range(4)]
    workers = [f"w{n}" for n in range(2)]
    # All six spawned back to back: they reach their migrations within the same moment.
    for n, executor_id in enumerate(workers):
        procs.spawn("worker", JEJAKEKAL_EXECUTOR_ID=executor_id)
        procs.spawn("api", "--shim", "--port", str(ports[n]))
    for n, port in enumerate(ports[2:]):
        procs.spawn("api", "--port", str(port), JEJAKEKAL_EXECUTOR_ID=f"api{n}")

    for port in ports:
        _wait(
            lambda p=port: processes.is_healthy(f"http://127.0.0.1:{p}"),
            f"the API on {port}",
            procs,
        )
    beating = {"w0", "w1", "api0", "api1"}
    _wait(
        lambda: {str(r[0]) for r in procs.sql("SELECT executor_id FROM app.workers")} >= beating,
        "every worker's heartbeat",
        procs,
    )

    assert [p.poll() for p in procs.procs] == [None] * 6
    versions = procs.sql("SELECT version, COUNT(*) FROM app.schema_migrations GROUP BY version")
    assert sorted(versions) == [(v, 1) for v, _, _ in MIGRATIONS]
    assert procs.sql("SELECT COUNT(*) FROM dbos.dbos_migrations") == [(1,)]


def _refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_second_process_under_a_live_ones_executor_id_refuses_in_one_line(
    procs: Procs,
) -> None:
    api, ui = free_port(), free_port()
    first = procs.spawn("serve", "--port", str(api), "--ui-port", str(ui))
    _wait(lambda: processes.is_healthy(f"http://127.0.0.1:{api}"), "the first serve", procs)

    second_api = subprocess.run(
        [*processes.CLI, "api", "--port", str(free_port())],
        env=procs.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    second_worker = subprocess.run(
        [*processes.CLI, "worker"],
        env=procs.env(JEJAKEKAL_EXECUTOR_ID="local"),
        capture_output=True,
        text=True,
        timeout=60,
    )

    for line in (_refused(second_api), _refused(second_worker)):
        assert "executor id 'local' is in use" in line
        assert f"pid {first.pid}" in line
        assert "JEJAKEKAL_EXECUTOR_ID" in line
    assert processes.is_healthy(f"http://127.0.0.1:{api}")
    assert procs.sql("SELECT pid FROM app.workers WHERE executor_id = 'local'") == [(first.pid,)]


def test_a_serve_killed_and_restarted_at_once_takes_its_own_id_back(procs: Procs) -> None:
    port = free_port()
    first = procs.spawn("api", "--port", str(port))
    _wait(lambda: processes.is_healthy(f"http://127.0.0.1:{port}"), "the first api", procs)
    first.kill()
    first.wait()
    procs.procs.remove(first)

    again = procs.spawn("api", "--port", str(port))
    _wait(lambda: processes.is_healthy(f"http://127.0.0.1:{port}"), "the restarted api", procs)

    assert procs.sql("SELECT pid FROM app.workers WHERE executor_id = 'local'") == [(again.pid,)]
