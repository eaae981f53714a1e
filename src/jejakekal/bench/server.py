"""Real `jejakekal` processes for the HTTP and UI benches: the client never shares their GIL."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from jejakekal import processes
from jejakekal.processes import free_port


@contextmanager
def api_process(database_url: str, home: Path) -> Iterator[str]:
    """Start `jejakekal api` on a free loopback port; yield its base URL; stop it."""
    with api_server(database_url, home) as (base, _):
        yield base


@contextmanager
def api_server(database_url: str, home: Path, shim: bool = False) -> Iterator[tuple[str, int]]:
    """As `api_process`, yielding the server's process id too (to read its CPU time).
    With `shim`, the API runs no workflow (`api --shim`) and a `worker` process runs them."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with contextlib.ExitStack() as stack:
        if shim:
            stack.enter_context(_cli_process("worker", database_url, home, {}, []))
        command = "api --shim" if shim else "api"
        pid = stack.enter_context(
            _cli_process(command, database_url, home, {"API_PORT": str(port)}, [base])
        )
        yield base, pid


@contextmanager
def serve_process(database_url: str, home: Path) -> Iterator[tuple[str, str]]:
    """Start `jejakekal serve` (API and UI in one process); yield both base URLs; stop it."""
    api_port, ui_port = free_port(), free_port()
    api, ui = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{ui_port}"
    ports = {"API_PORT": str(api_port), "UI_PORT": str(ui_port)}
    with _cli_process("serve", database_url, home, ports, [api, ui]):
        yield api, ui


@contextmanager
def _cli_process(
    command: str, database_url: str, home: Path, ports: dict[str, str], bases: list[str]
) -> Iterator[int]:
    env = processes.process_env(database_url, home, **ports)
    process = processes.spawn(command.split(), env)
    try:
        for base in bases:
            processes.wait_healthy(base, process, 60.0, lambda: processes.stderr_tail(process))
        yield process.pid
    finally:
        processes.stop([process], timeout=30)


def settle(base: str, timeout: float = 20.0) -> str | None:
    """Wait until the server's queues leave the fast pace a process starts with (about
    five seconds without queue work), so a bench times the steady state of a server
    running only its own kind of work. Returns the pace timing starts at: `idle`, `off`,
    none for a process that runs no workflows, or `busy` if other work kept the queues
    busy for the whole `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        pace: str | None = httpx.get(f"{base}/healthz", timeout=5).json().get("queues")
        if pace != "busy" or time.monotonic() > deadline:
            return pace
        time.sleep(0.25)
