"""`serve`, `api` and `ui`: the server processes, each on ports checked up front.

`serve` runs the API and the UI as two uvicorn servers in one asyncio loop over one
kernel; `ui` runs the UI alone against an API elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import os
import signal
import socket
import sys
from collections.abc import Iterator

import typer
import uvicorn

from jejakekal.app import create_api_app
from jejakekal.bootstrap import Kernel, Role
from jejakekal.cli.output import fail
from jejakekal.config import Settings
from jejakekal.domain.hosts import WILDCARD_BINDS, split_host


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port_free(host: str, port: int, hint: str = "API_PORT / --port") -> None:
    """Fail at once, with a sentence, when the port is taken (not with a traceback later)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # As uvicorn binds: connections a killed server left in TIME_WAIT do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                fail(
                    f"port {port} on {host} is already in use; stop the other process "
                    f"or choose another port ({hint})"
                )
            fail(f"cannot bind {host}:{port}: {exc.strerror}")


def run_api(settings: Settings, role: Role, host: str, port: int) -> None:
    check_exposure(host, settings, "API")
    check_port_free(host, port)
    settings = settings.with_overrides(host=host, api_port=port)
    # Built here rather than in the app's lifespan, where a refusal became a traceback.
    kernel = build_kernel_or_fail(settings, role)
    try:
        app = create_api_app(settings, role, kernel=kernel)
        typer.echo(
            f"jejakekal {role} on http://{host}:{port} (db: {settings.resolved_database_url})"
        )
        asyncio.run(serve_all([_server(app, host, port)]))
    finally:
        kernel.close()
    _leave()


def build_kernel_or_fail(settings: Settings, role: Role) -> Kernel:
    """The process's kernel, or one line and exit 1 when a live process holds its id."""
    from jejakekal.bootstrap import build_kernel
    from jejakekal.domain.errors import ExecutorIdInUse

    try:
        return build_kernel(settings, role)
    except ExecutorIdInUse as exc:
        fail(exc.message)


def _leave() -> None:
    # The kernel is closed. A workflow parked in DBOS.recv keeps its executor thread
    # blocked, and the interpreter would join it at exit; the run is durable and is
    # recovered at the next start, so leave without waiting for it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def check_exposure(host: str, settings: Settings, what: str) -> None:
    if not is_loopback(host) and not settings.api_token:
        fail(f"binding {host} exposes the {what} beyond this machine; set JEJAKEKAL_API_TOKEN")
    bad = [entry for entry in settings.allowed_hosts if split_host(entry) is None]
    if bad:
        fail(f"JEJAKEKAL_ALLOWED_HOSTS: {bad[0]!r} is not a host name (name or name:port)")
    if host.strip() in WILDCARD_BINDS and not settings.allowed_hosts:
        # Reachable from everywhere, but a Host that is not loopback gets 421 until named.
        typer.echo(
            f"note: bound to {host}, the {what} answers only Host names localhost, 127.0.0.1 "
            "and ::1; add the names clients use to JEJAKEKAL_ALLOWED_HOSTS"
        )


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to `serve_all`, which stops every server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _server(app: object, host: str, port: int) -> _Server:
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)  # type: ignore[arg-type]
    return _Server(config)


async def serve_all(servers: list[_Server]) -> None:
    """Run the servers in this loop until a signal, or until any of them stops."""
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server in servers:
            # A second Ctrl-C stops at once instead of waiting for open connections.
            server.force_exit = server.should_exit
            server.should_exit = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    stop()
    await asyncio.gather(*tasks, return_exceptions=True)


def run_serve(settings: Settings, host: str, api_port: int, ui_port: int) -> None:
    """API, worker and UI in one process, sharing one kernel."""
    from jejakekal.web import InProcessClient, create_ui_app

    check_exposure(host, settings, "API and UI")
    if api_port == ui_port:
        fail(f"API_PORT and UI_PORT are both {api_port}; give them different ports")
    check_port_free(host, api_port)
    check_port_free(host, ui_port, "UI_PORT / --ui-port")
    settings = settings.with_overrides(host=host, api_port=api_port, ui_port=ui_port)
    kernel = build_kernel_or_fail(settings, "full")
    try:
        api = create_api_app(settings, "full", kernel=kernel)
        ui = create_ui_app(settings, InProcessClient(kernel.control))
        typer.echo(
            f"jejakekal API on http://{host}:{api_port}, UI on http://{host}:{ui_port} "
            f"(db: {settings.resolved_database_url})"
        )
        asyncio.run(serve_all([_server(api, host, api_port), _server(ui, host, ui_port)]))
    finally:
        kernel.close()
    _leave()


def run_ui(settings: Settings, host: str, ui_port: int, api_url: str) -> None:
    """The UI alone, talking to the API at `api_url` over HTTP."""
    from jejakekal.web import HttpClient, create_ui_app

    check_exposure(host, settings, "UI")
    check_port_free(host, ui_port, "UI_PORT / --port")
    settings = settings.with_overrides(host=host, ui_port=ui_port, api_url=api_url)
    client = HttpClient(api_url, settings.api_token)
    ui = create_ui_app(settings, client)
    typer.echo(f"jejakekal UI on http://{host}:{ui_port} (API: {api_url})")
    asyncio.run(serve_all([_server(ui, host, ui_port)]))
    _leave()


def run_worker(settings: Settings) -> None:
    """Run until SIGTERM or Ctrl-C, then close the kernel and leave (see `run_api`)."""
    import signal
    import threading

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    kernel = build_kernel_or_fail(settings, "worker")
    typer.echo(
        f"jejakekal worker {kernel.settings.executor_id} (version {kernel.settings.app_version}, "
        f"db: {settings.resolved_database_url})"
    )
    stop.wait()
    kernel.close()
    _leave()
