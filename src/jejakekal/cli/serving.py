"""`serve` and `api`: one process, API plus worker, on a port checked up front."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import sys

import typer
import uvicorn

from jejakekal.app import create_api_app
from jejakekal.bootstrap import Role
from jejakekal.cli.output import fail
from jejakekal.config import Settings


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port_free(host: str, port: int) -> None:
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
                    f"or choose another port (API_PORT / --port)"
                )
            fail(f"cannot bind {host}:{port}: {exc.strerror}")


def run_api(settings: Settings, role: Role, host: str, port: int) -> None:
    if not is_loopback(host) and not settings.api_token:
        fail(f"binding {host} exposes the API beyond this machine; set JEJAKEKAL_API_TOKEN")
    check_port_free(host, port)
    app = create_api_app(settings.with_overrides(host=host, api_port=port), role)
    typer.echo(f"jejakekal {role} on http://{host}:{port} (db: {settings.resolved_database_url})")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    # The lifespan has closed the kernel. A workflow parked in DBOS.recv keeps its
    # executor thread blocked, and the interpreter would join it at exit; the run is
    # durable and is recovered at the next start, so leave without waiting for it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run_worker(settings: Settings) -> None:
    """Run until SIGTERM or Ctrl-C, then close the kernel and leave (see `run_api`)."""
    import signal
    import threading

    from jejakekal.bootstrap import build_kernel

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    kernel = build_kernel(settings, "worker")
    typer.echo(
        f"jejakekal worker {kernel.settings.executor_id} (version {kernel.settings.app_version}, "
        f"db: {settings.resolved_database_url})"
    )
    stop.wait()
    kernel.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
