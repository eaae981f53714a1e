"""A real `jejakekal api` process for the HTTP benches: the client never shares its GIL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def api_process(database_url: str, home: Path) -> Iterator[str]:
    """Start `jejakekal api` on a free loopback port; yield its base URL; stop it."""
    port = free_port()
    env = {
        **os.environ,
        "JEJAKEKAL_HOME": str(home),
        "JEJAKEKAL_DATABASE_URL": database_url,
        "API_PORT": str(port),
    }
    env.pop("PORT", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "jejakekal.cli.main", "api"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_healthy(base: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"the API process exited at start: {err.strip()[-500:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"the API at {base} did not become healthy in {timeout:g}s")
