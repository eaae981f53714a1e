"""A throwaway PostgreSQL server for the test suite: real binaries, no Docker, no mocks."""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import psycopg
from psycopg import sql

ENV_URL = "JEJAKEKAL_TEST_PG_URL"
DEFAULT_DB = "jejakekal_test"
_MISSING = (
    "No PostgreSQL server binaries (initdb, pg_ctl) found on PATH or under "
    "/usr/lib/postgresql/*/bin. Install the Debian package `postgresql` "
    f"(apt-get install postgresql) or set {ENV_URL} to an existing server's URL."
)
# Durability is pointless for a server that is deleted after the session.
_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
}


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", bin_dir.parent.name))


def find_pg_bin() -> Path | None:
    """Directory holding `initdb` and `pg_ctl`: PATH first, then the newest Debian version."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path is not None:
        candidates.append(Path(on_path).resolve().parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    for bin_dir in candidates:
        if (bin_dir / "initdb").is_file() and (bin_dir / "pg_ctl").is_file():
            return bin_dir
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ThrowawayPostgres:
    """A private PostgreSQL cluster in a temp dir, listening on 127.0.0.1 only."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        found = bin_dir or find_pg_bin()
        if found is None:
            raise RuntimeError(_MISSING)
        self.bin_dir = found
        self.tmpdir: Path | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return self.url_for(DEFAULT_DB)

    def url_for(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{quote(dbname, safe='')}"

    def start(self) -> ThrowawayPostgres:
        if self.tmpdir is not None:
            raise RuntimeError("server already started")
        self.tmpdir = Path(tempfile.mkdtemp(prefix="jejakekal-pg-"))
        atexit.register(self.stop)
        try:
            self._start(self.tmpdir)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, tmp: Path) -> None:
        sock, data, log = tmp / "sock", tmp / "data", tmp / "server.log"
        sock.mkdir()
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for path in (tmp, sock):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        self._run(
            "initdb", "-D", str(data), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        quoted_sock = "'{}'".format(str(sock).replace("'", "''"))
        settings = {**_SETTINGS, "unix_socket_directories": quoted_sock}
        with (data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        # The free port is only free until someone else takes it; retry on a lost race.
        for _ in range(5):
            self.port = _free_port()
            started = self._run(
                "pg_ctl", "start", "-w", "-t", "60", "-D", str(data), "-l", str(log),
                "-o", f"-p {self.port}", check=False,
            )  # fmt: skip
            if started.returncode == 0:
                break
        else:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start:\n{started.stderr}\n{tail}")
        self._wait_ready()
        self.create_database(DEFAULT_DB)

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url_for("postgres"), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        with psycopg.connect(self.url_for("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def stop(self) -> None:
        """Kill the server (immediate mode) and delete its files. Safe to call twice."""
        tmp = self.tmpdir
        if tmp is None:
            return
        atexit.unregister(self.stop)
        try:
            if (tmp / "data" / "postmaster.pid").exists():
                self._run("pg_ctl", "stop", "-m", "immediate", "-w", "-D", str(tmp / "data"))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            self.tmpdir = None

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin_dir / tool), *args]
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root, so drop to the postgres system user.
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        # Stray PG* variables (PGDATA, PGPORT, ...) must not redirect our private server.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        proc = subprocess.run(
            cmd, cwd=self.tmpdir, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def postgres_url_for_tests() -> tuple[str, ThrowawayPostgres | None]:
    """`JEJAKEKAL_TEST_PG_URL` if set, else the URL of a freshly started throwaway server."""
    url = os.environ.get(ENV_URL)
    if url:
        return url, None
    if find_pg_bin() is None:
        raise RuntimeError(_MISSING)
    server = ThrowawayPostgres().start()
    return server.url, server
