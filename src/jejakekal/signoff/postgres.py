"""The PostgreSQL of signoff's checks on that backend: a fresh database per check, on a
server the operator names (`--database-url`) or on a throwaway one started here from the
PostgreSQL server binaries, as the test suite starts its own.

A throwaway server trades durability for speed (fsync off): it is deleted at the end.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from jejakekal.domain.errors import DatabaseUnavailable
from jejakekal.processes import free_port
from jejakekal.storage.provisioning import create_database, drop_databases, wait_until_answering

MISSING = (
    "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or under "
    "/usr/lib/postgresql/*/bin: install the Debian package `postgresql`, or pass "
    "--database-url postgresql://... naming a server where signoff may create databases"
)
_FAST = (
    "listen_addresses = '127.0.0.1'\nfsync = off\nsynchronous_commit = off\n"
    "full_page_writes = off\nmax_connections = 300\n"
)


class PostgresUnavailable(RuntimeError):
    """No server could be started or reached; the message names what is missing."""


def find_bin_dir() -> Path | None:
    """The folder with `initdb` and `pg_ctl`: PATH first, then the newest Debian version."""
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    debian = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(debian, key=_version, reverse=True)
    return next(
        (d for d in candidates if (d / "initdb").is_file() and (d / "pg_ctl").is_file()), None
    )


class Databases:
    """Fresh databases on one server, started on first use; `close` drops or deletes them."""

    def __init__(self, server_url: str | None) -> None:
        self._server_url = server_url
        self._created: list[str] = []
        self._folder: Path | None = None
        self._bin_dir: Path | None = None
        self._failure: str | None = None

    def fresh(self, label: str) -> str:
        """The URL of a new, empty database named after `label`."""
        server = self._server()
        name = f"signoff_{re.sub(r'[^a-z0-9]+', '_', label.lower())}_{uuid.uuid4().hex[:8]}"
        url = create_database(server, name)
        self._created.append(name)
        return url

    def close(self) -> None:
        if self._folder is not None:
            self._stop_throwaway(self._folder)
            return
        if self._server_url is not None and self._created:
            drop_databases(self._server_url, self._created)

    def _server(self) -> str:
        if self._failure is not None:
            raise PostgresUnavailable(self._failure)  # said once, then for each check
        if self._server_url is None:
            try:
                self._server_url = self._start_throwaway()
            except PostgresUnavailable as exc:
                self._failure = str(exc)
                raise
        return self._server_url

    def _start_throwaway(self) -> str:
        self._bin_dir = find_bin_dir()
        if self._bin_dir is None:
            raise PostgresUnavailable(MISSING)
        self._folder = folder = Path(tempfile.mkdtemp(prefix="jejakekal-signoff-pg-"))
        data, sock = folder / "data", folder / "sock"
        sock.mkdir()
        if os.geteuid() == 0:  # initdb and postgres refuse root: run them as `postgres`
            owner = pwd.getpwnam("postgres")
            for path in (folder, sock):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self._pg("initdb", "-D", str(data), "-U", "postgres", "--auth=trust",
                 "--encoding=UTF8", "--locale=C", "--no-sync")  # fmt: skip
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(_FAST + f"unix_socket_directories = '{sock}'\n")
        # A free port is free only until someone takes it: a lost race is tried again.
        for attempt in range(3):
            port = free_port()
            try:
                self._pg("pg_ctl", "start", "-w", "-t", "60", "-D", str(data), "-l",
                         str(folder / "server.log"), "-o", f"-p {port}")  # fmt: skip
                break
            except PostgresUnavailable:
                if attempt == 2:
                    raise
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        try:
            wait_until_answering(url)
        except DatabaseUnavailable as exc:
            raise PostgresUnavailable(f"the throwaway PostgreSQL: {exc.message}") from None
        return url

    def _stop_throwaway(self, folder: Path) -> None:
        try:
            if (folder / "data" / "postmaster.pid").exists():
                self._pg("pg_ctl", "stop", "-m", "immediate", "-w", "-D", str(folder / "data"))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            self._folder = None

    def _pg(self, tool: str, *args: str) -> None:
        assert self._bin_dir is not None and self._folder is not None
        cmd = [str(self._bin_dir / tool), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        # Stray PG* variables (PGDATA, PGPORT, ...) must not redirect the private server.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        done = subprocess.run(
            cmd, cwd=self._folder, env=env, capture_output=True, text=True, timeout=120,
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip()[-500:]
            raise PostgresUnavailable(f"{tool} failed ({done.returncode}): {said}")


def _version(bin_dir: Path) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", bin_dir.parent.name)]
