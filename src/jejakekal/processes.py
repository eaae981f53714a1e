"""Real `jejakekal` processes for benches, drills and tests: start one, wait until its
`/healthz` answers, stop it.

Nothing here imports the product: a process is started by its command line, so a
bench or a drill measures (or kills) a server that shares no interpreter with it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

import httpx

CLI = (sys.executable, "-m", "jejakekal.cli.main")
# Settings a parent may carry that would point a child at the parent's ports or token.
INHERITED_OUT = ("PORT", "API_PORT", "UI_PORT", "JEJAKEKAL_API_TOKEN", "JEJAKEKAL_EXECUTOR_ID")
POLL_SEC = 0.05


class StartFailed(RuntimeError):
    """A process exited at start, or its `/healthz` did not answer in time."""


def free_port() -> int:
    """A loopback port free now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def process_env(database_url: str, home: Path, **settings: str) -> dict[str, str]:
    """This process's environment for a child on `database_url` and `home`: the
    parent's ports, token and executor id left out unless given in `settings`."""
    env = {k: v for k, v in os.environ.items() if k not in INHERITED_OUT}
    return {
        **env,
        "JEJAKEKAL_HOME": str(home),
        "JEJAKEKAL_DATABASE_URL": database_url,
        **settings,
    }


def spawn(
    args: list[str], env: Mapping[str, str], log: Path | None = None, *, own_session: bool = False
) -> subprocess.Popen[bytes]:
    """`jejakekal ARGS`, its output in `log`, or only its stderr kept, in a pipe.
    With `own_session`, a Ctrl-C on the parent does not reach it."""
    if log is None:
        return subprocess.Popen(
            [*CLI, *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=own_session,
        )
    with log.open("wb") as sink:
        return subprocess.Popen(
            [*CLI, *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=own_session,
        )


def is_healthy(base: str, timeout: float = 2.0) -> bool:
    """`base/healthz` answers 200 with `{"ok": true}`."""
    try:
        reply = httpx.get(f"{base}/healthz", timeout=timeout)
        return reply.status_code == 200 and reply.json().get("ok") is True
    except (httpx.HTTPError, ValueError):
        return False  # connection refused while it boots


def wait_healthy(
    base: str,
    process: subprocess.Popen[bytes],
    timeout: float = 90.0,
    why: Callable[[], str] = lambda: "",
) -> None:
    """Return once `base` is healthy; raise StartFailed, with `why()` (a log's tail, say)
    appended, if the process exits first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while not is_healthy(base):
        if process.poll() is not None:
            raise StartFailed(f"the process exited at start (code {process.returncode}): {why()}")
        if time.monotonic() > deadline:
            raise StartFailed(f"{base}/healthz not healthy after {timeout:g}s: {why()}")
        time.sleep(POLL_SEC)


def stop(processes: list[subprocess.Popen[bytes]], timeout: float = 20.0) -> None:
    """SIGTERM every live process, then wait for each; SIGKILL one that outstays `timeout`."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stderr_tail(process: subprocess.Popen[bytes], chars: int = 500) -> str:
    """What a process that piped its stderr said before it exited."""
    stream: IO[bytes] | None = process.stderr
    if stream is None or process.poll() is None:
        return ""  # reading a live process's pipe would wait for it to exit
    return stream.read().decode(errors="replace").strip()[-chars:]


def log_tail(path: Path, lines: int = 3, chars: int = 400) -> str:
    """The end of a process's log, where a failed start says why."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    last = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(last)[-chars:] or "(empty log)"
