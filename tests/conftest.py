"""Fixtures: a fresh database per test on each backend, and a real API server.

Every contract and integration test that takes `database_url` runs twice: on an
embedded SQLite file and on a throwaway PostgreSQL the suite starts itself (or the
server named by JEJAKEKAL_TEST_PG_URL).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn

sys.path.insert(0, str(Path(__file__).parent))

from jejakekal import processes
from jejakekal.app import create_api_app
from jejakekal.bootstrap import Kernel, build_kernel
from jejakekal.config import Settings, load_settings
from jejakekal.domain.lifecycle import RunChange, RunKind, RunStatus
from jejakekal.domain.records import NewRun
from jejakekal.processes import free_port
from jejakekal.storage import runs
from jejakekal.storage.console import run_readonly
from jejakekal.storage.database import Database
from jejakekal.storage.engine import is_sqlite
from openai_loopback import ScriptedModel, scripted_model
from pgserver import ThrowawayPostgres, postgres_url_for_tests

BACKENDS = ("sqlite", "postgresql")
JSON = {"content-type": "application/json"}
MIB = 1_048_576
ID_GRAMMAR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def q(template: str, **ids: str) -> str:
    """Fill ids into an oracle query; each must match the id grammar, so none can quote."""
    for value in ids.values():
        assert ID_GRAMMAR.match(value), value
    return template.format(**ids)


TERMINAL = {"succeeded", "failed", "retries_exceeded", "canceled"}


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    url, server = postgres_url_for_tests()
    try:
        yield url
    finally:
        if isinstance(server, ThrowawayPostgres):
            server.stop()


def fresh_pg_database(server_url: str) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jejakekal.sqlite'}"
    return fresh_pg_database(request.getfixturevalue("pg_server_url"))


def make_settings(database_url: str, home: Path, **env: str) -> Settings:
    return load_settings(
        {
            "JEJAKEKAL_HOME": str(home),
            "JEJAKEKAL_DATABASE_URL": database_url,
            "JEJAKEKAL_QUEUE_POLL_SEC": "0.02",
            "JEJAKEKAL_STEP_RETRY_INTERVAL_SEC": "0.05",
            **env,
        }
    )


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "home")


@pytest.fixture
def kernel(settings: Settings) -> Iterator[Kernel]:
    """A whole process's kernel (API use cases and DBOS workers) on the test's database."""
    built = build_kernel(settings, "full")
    try:
        yield built
    finally:
        built.close()


@dataclass
class Api:
    """A real uvicorn server on a loopback port, with an HTTP client and SQL oracles."""

    base_url: str
    client: httpx.Client
    settings: Settings

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.settings.resolved_database_url)

    def sql(self, query: str) -> list[dict[str, Any]]:
        columns, rows = run_readonly(self.settings.resolved_database_url, query)
        return [dict(zip(columns, r, strict=True)) for r in rows]

    def count(self, query: str) -> int:
        rows = self.sql(query)
        return int(next(iter(rows[0].values())))

    def create_intent(self, goal: str) -> str:
        reply = self.client.post("/intents", json={"goal": goal, "inputs": {}, "constraints": {}})
        assert reply.status_code == 201, reply.text
        return str(reply.json()["intentId"])

    def start(self, intent_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        reply = self.client.post(f"/intents/{intent_id}/run", json=body or {})
        assert reply.status_code == 202, reply.text
        result: dict[str, Any] = reply.json()
        return result

    def wait_status(self, run_id: str, *wanted: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        view: dict[str, Any] = {}
        while time.monotonic() < deadline:
            view = self.client.get(f"/runs/{run_id}").json()
            if view.get("status") in wanted:
                return view
            time.sleep(0.02)
        raise AssertionError(f"run {run_id} never reached {wanted}; last view: {view}")


def serve_in_thread(settings: Settings) -> tuple[uvicorn.Server, threading.Thread, int]:
    return serve_app_in_thread(create_api_app(settings, "full"))


def serve_app_in_thread(app: Any) -> tuple[uvicorn.Server, threading.Thread, int]:
    """Serve an ASGI app with uvicorn on a free loopback port, in a daemon thread."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("server failed to start")
        time.sleep(0.01)
    return server, thread, port


@contextmanager
def served_api(settings: Settings) -> Iterator[Api]:
    """A full API process's app (API and workers) on a loopback port, until the block ends."""
    server, thread, port = serve_in_thread(settings)
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=30) as client:
        try:
            yield Api(base, client, settings)
        finally:
            server.should_exit = True
            thread.join(timeout=30)


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with served_api(settings) as served:
        yield served


@pytest.fixture(scope="module")
def model_server() -> Iterator[ScriptedModel]:
    """A scripted OpenAI-compatible endpoint on loopback, shared by a module's tests."""
    with scripted_model() as model:
        yield model


@pytest.fixture
def model(model_server: ScriptedModel) -> ScriptedModel:
    """The module's scripted endpoint, its script and records emptied for this test."""
    model_server.reset()
    return model_server


def insert_intent_run(db: Database, run_id: str, status: RunStatus) -> None:
    """An intent (`intent-...`) and its run row of `status`, written as the use case
    would, with no workflow behind them: for tests of steps and storage."""
    intent_id = run_id.replace("run", "intent")
    run = NewRun(
        run_id=run_id,
        kind=RunKind.INTENT,
        workflow_id=intent_id,
        request_hash="h",
        request={},
        intent_id=intent_id,
    )
    with db.write() as tx:
        runs.insert_intent(tx, intent_id, "g", {}, {})
        runs.insert_run(tx, run)  # queued, as every intent run starts
        runs.change_run(tx, run_id, RunChange(status=status))


# What a fresh operator shell has none of: the suite's own settings.
_SETTINGS = ("JEJAKEKAL_", "DATABASE_URL", "API_PORT", "PORT", "UI_", "DBOS__")
CLI = [sys.executable, "-m", "jejakekal.cli.main"]


def run_cli(
    folder: Path, *args: str, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    """`jejakekal ARGS` as a real process in `folder`, as from a fresh shell plus `env`."""
    folder.mkdir(parents=True, exist_ok=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(_SETTINGS)}
    return subprocess.run(
        [*CLI, *args],
        env={**clean, **env},
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave like `jejakekal serve` does once everything is reported.

    A workflow a test left parked in DBOS.recv or a child-result wait keeps a DBOS
    executor thread blocked, and the interpreter joins such threads at exit: the suite
    would hang for the length of that wait. Servers and databases are already stopped
    by their fixtures at this point.
    """
    if _exit_status and not hasattr(config, "workerinput"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[0])


@dataclass(frozen=True)
class UpgradedApi:
    """`jejakekal api` of this release on a copy of a database an earlier release left."""

    base_url: str
    pid: int
    database: Path  # the copy the process opened
    before: Path  # an untouched copy, to compare with


@contextmanager
def api_on_old_database(fixture: Path, scratch: Path) -> Iterator[UpgradedApi]:
    """Copy `fixture` into a fresh home (and once more, untouched), start `jejakekal api`
    on it under the default executor id, wait until it is healthy, stop it at the end."""
    home = scratch / "home"
    home.mkdir()
    database, before = home / "jejakekal.sqlite", scratch / f"{fixture.stem}-before.sqlite"
    shutil.copyfile(fixture, database)
    shutil.copyfile(fixture, before)
    port = free_port()
    env = processes.process_env(
        f"sqlite:///{database}",
        home,
        API_PORT=str(port),
        JEJAKEKAL_QUEUE_POLL_SEC="0.02",
        JEJAKEKAL_STEP_RETRY_INTERVAL_SEC="0.05",
    )
    log = scratch / "api.log"
    api = processes.spawn(["api"], env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_healthy(base, api, timeout=60, why=lambda: processes.log_tail(log))
        yield UpgradedApi(base, api.pid, database, before)
    finally:
        processes.stop([api], timeout=30)


ENDED = {"succeeded", "failed", "retries_exceeded", "canceled", "done", "error"}


def wait_run_status(
    http: httpx.Client, run_id: str, *wanted: str, timeout: float = 60
) -> dict[str, Any]:
    """The run's view once its status is one of `wanted`; fails at once if it ends in
    another status, or after `timeout`."""
    deadline = time.monotonic() + timeout
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        view = http.get(f"/runs/{run_id}").json()
        if view.get("status") in wanted:
            return view
        if view.get("status") in ENDED:
            break
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never reached {wanted}; last view: {view}")
