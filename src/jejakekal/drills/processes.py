"""A real `jejakekal api` process (API and worker in one) that a drill can SIGKILL.

Every (re)start takes a fresh free loopback port: after a SIGKILL the old port may
still have connections in TIME_WAIT. The executor id stays the same across restarts,
so the new process recovers, at launch, the workflows the killed one left PENDING.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import httpx

from jejakekal import processes
from jejakekal.config import Settings
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.storage import engine

T = TypeVar("T")

START_TIMEOUT_SEC = 90.0
STOP_TIMEOUT_SEC = 15.0
POLL_SEC = 0.05


class DrillError(Exception):
    """The drill could not go on (a process died, a wait timed out, an API refused)."""


@dataclass(frozen=True)
class DrillEnv:
    """Where a drill's processes keep their state, and who they are to DBOS."""

    database_url: str
    home: Path
    executor_id: str
    app_version: str
    scratch_db: bool  # the database is a file in `home` that the drill created

    @property
    def db_kind(self) -> str:
        return engine.db_kind(self.database_url)


def make_env(drill: str, settings: Settings, db: str | None) -> DrillEnv:
    """A temporary home, a scratch SQLite file in it unless `db` names a database."""
    home = Path(tempfile.mkdtemp(prefix=f"jejakekal-drill-{drill}-"))
    url = db or f"sqlite:///{home / 'drill.sqlite'}"
    return DrillEnv(
        database_url=url,
        home=home,
        executor_id=f"drill-{uuid.uuid4().hex[:12]}",
        app_version=settings.app_version,
        scratch_db=db is None,
    )


def wait_for(
    probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = POLL_SEC
) -> T:
    """Poll `probe` until it returns something other than None (or False)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise DrillError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


class ApiProcess:
    """`jejakekal api` on a loopback port, with its log in the drill's home."""

    def __init__(self, env: DrillEnv) -> None:
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.base_url = ""
        self.starts = 0
        self.kills = 0
        self._client: httpx.Client | None = None

    def __enter__(self) -> ApiProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        if self.process is None:
            raise DrillError("the API process is not running")
        return self.process.pid

    @property
    def log_path(self) -> Path:
        return self.env.home / f"api-{self.starts}.log"

    def start(self) -> str:
        """Start a process and return its base URL once `/healthz` answers ok."""
        if self.process is not None and self.process.poll() is None:
            raise DrillError("the API process is already running")
        port = processes.free_port()
        self.starts += 1
        # A loopback drill needs no token (process_env leaves the parent's out).
        env = processes.process_env(
            self.env.database_url,
            self.env.home,
            JEJAKEKAL_EXECUTOR_ID=self.env.executor_id,
            DBOS__APPVERSION=self.env.app_version,
        )
        # Its own session: a Ctrl-C on the drill reaches only the drill, whose `finally`
        # then stops this process.
        process = processes.spawn(
            ["api", "--port", str(port)], env, self.log_path, own_session=True
        )
        self.process = process
        self.base_url = f"http://127.0.0.1:{port}"
        self._close_client()
        try:
            processes.wait_healthy(
                self.base_url, process, START_TIMEOUT_SEC, lambda: processes.log_tail(self.log_path)
            )
        except processes.StartFailed as failed:
            raise DrillError(f"the API process did not start: {failed}") from None
        return self.base_url

    def kill9(self) -> None:
        """SIGKILL the process now: no shutdown hook, no lifespan, no flush."""
        process = self.process
        if process is None or process.poll() is not None:
            raise DrillError("the API process to kill is not running")
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        self.kills += 1
        self._close_client()

    def restart(self) -> str:
        """Start again with the same executor id and version: DBOS recovers at launch."""
        return self.start()

    def stop(self) -> None:
        """Stop a leftover process: SIGTERM, then SIGKILL if it lingers."""
        self._close_client()
        if self.process is not None:
            processes.stop([self.process], timeout=STOP_TIMEOUT_SEC)

    # -- HTTP ------------------------------------------------------------------------
    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(base_url=self.base_url, timeout=30)
        return self._client

    # Replies are JSON objects whose values the drills only print or compare.
    def post(self, path: str, body: JsonObject, *, expect: int) -> JsonObject:
        reply = self.client.post(path, json=body)
        if reply.status_code != expect:
            raise DrillError(f"POST {path} answered {reply.status_code}: {reply.text[:300]}")
        data: JsonObject = reply.json()
        return data

    def get(self, path: str) -> JsonObject:
        reply = self.client.get(path)
        if reply.status_code != 200:
            raise DrillError(f"GET {path} answered {reply.status_code}: {reply.text[:300]}")
        data: JsonObject = reply.json()
        return data

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
