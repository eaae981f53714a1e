"""What a node can reach (issue 22; README, "Adapters"): under bubblewrap no network, no
other process, no file outside its workspace and the system folders, no secret of the
host; as a plain subprocess all of these, which is why such commands need bwrap.

Each probe runs a real command through `execute`, and each has a companion showing the
same probe finding the thing without bwrap, so a probe that could never see it fails.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from jejakekal.adapters.sandbox_shell import ShellSandbox
from jejakekal.domain.ports import ExecNode, ExecResult

SECRET = f"token-{secrets.token_hex(8)}"


def isolated() -> ShellSandbox:
    """Fails, never skips, where bwrap is missing or unusable."""
    try:
        sandbox = ShellSandbox(use_bwrap=True)
    except RuntimeError as exc:
        pytest.fail(f"bubblewrap must work here to test isolation: {exc}")
    assert sandbox.isolation == "bwrap"
    return sandbox


def unisolated() -> ShellSandbox:
    sandbox = ShellSandbox(use_bwrap=False)
    assert sandbox.isolation == "subprocess"
    return sandbox


def run(sandbox: ShellSandbox, script: str) -> ExecResult:
    node = ExecNode(node_id="probe", argv=["/bin/sh", "-c", script], env={}, timeout_sec=20)
    return sandbox.execute(node)


@pytest.fixture
def loopback_port() -> Iterator[int]:
    """A TCP server on the host's loopback, listening: a connect completes in the backlog."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


def connect_script(port: int) -> str:
    return f"bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' 2>/dev/null && echo connected"


@pytest.fixture
def host_process() -> Iterator[str]:
    """A process of the host (an API server, say) with a secret in its environment; its
    marker is in its command line."""
    marker = f"300.{secrets.randbelow(10**9):09d}"
    env = {"PATH": "/usr/bin:/bin", "JEJAKEKAL_API_TOKEN": SECRET}
    process = subprocess.Popen(["sleep", marker], env=env)
    try:
        yield marker
    finally:
        process.kill()
        process.wait()


# Every process's command line and environment the node can read, one per line.
READ_PROCESSES = (
    "for p in /proc/[0-9]*; do "
    'echo "pid ${p#/proc/} $(tr "\\0" " " < $p/cmdline 2>/dev/null) '
    '$(tr "\\0" " " < $p/environ 2>/dev/null)"; done'
)


@pytest.fixture
def host_files(tmp_path: Path) -> list[Path]:
    """Files a node must not read: the product's database, a file in the test's temporary
    folder, and the host's own secrets."""
    database = tmp_path / "data" / "jejakekal.sqlite3"
    database.parent.mkdir()
    database.write_text(SECRET)
    return [database, Path("/etc/shadow"), Path("/etc/passwd"), Path.home(), tmp_path]


def test_under_bwrap_a_node_cannot_reach_a_loopback_server_of_the_host(
    loopback_port: int,
) -> None:
    result = run(isolated(), connect_script(loopback_port))

    assert result.exit_code == 1
    assert result.stdout == ""


def test_under_bwrap_a_node_has_no_interface_but_loopback_and_no_route() -> None:
    result = run(isolated(), "cat /proc/net/dev; echo routes; tail -n +2 /proc/net/route")

    devices, routes = result.stdout.split("routes\n")
    assert [line.split(":")[0].strip() for line in devices.splitlines()[2:]] == ["lo"]
    assert routes == ""


def test_under_bwrap_a_node_sees_only_its_own_processes(host_process: str) -> None:
    result = run(isolated(), READ_PROCESSES)

    assert host_process not in result.stdout
    assert "pytest" not in result.stdout  # nor this test's own process
    # When the loop's glob is expanded, the node's PID namespace holds its init shell and
    # the command's shell, nothing else.
    assert [line.split()[1] for line in result.stdout.splitlines()] == ["1", "2"]


def test_under_bwrap_no_host_secret_reaches_a_node(
    host_process: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JEJAKEKAL_API_TOKEN", SECRET)

    result = run(isolated(), f"env; {READ_PROCESSES}")

    assert result.exit_code == 0, result.stderr
    assert "JEJAKEKAL_API_TOKEN" not in result.stdout
    assert SECRET not in result.stdout


def test_under_bwrap_no_file_outside_the_workspace_and_system_folders_is_visible(
    host_files: list[Path],
) -> None:
    paths = " ".join(str(path) for path in host_files)

    result = run(isolated(), f"for f in {paths}; do test -e $f && echo $f; done; exit 0")

    assert result.stdout == ""
    assert result.exit_code == 0, result.stderr


def test_under_bwrap_the_system_folders_are_visible_but_read_only() -> None:
    result = run(isolated(), "test -x /usr/bin/env && touch /usr/x 2>/dev/null || echo ro")

    assert result.stdout == "ro\n"


def test_under_bwrap_a_file_written_to_tmp_stays_in_the_sandbox(tmp_path: Path) -> None:
    name = f"jejakekal-escape-{secrets.token_hex(4)}"

    result = run(isolated(), f"echo x > /tmp/{name} && cat /tmp/{name}; echo y > {tmp_path}/w")

    assert result.stdout == "x\n"  # /tmp is writable inside, and private to the node
    assert not (Path("/tmp") / name).exists()
    assert not (Path(tempfile.gettempdir()) / name).exists()
    assert list(tmp_path.iterdir()) == []


# Without bwrap: the same probes find what bwrap hides (README: such commands are refused
# unless the operator opts in).


def test_without_bwrap_a_node_reaches_a_loopback_server_of_the_host(loopback_port: int) -> None:
    result = run(unisolated(), connect_script(loopback_port))

    assert result.stdout == "connected\n"


def test_without_bwrap_a_node_sees_host_processes_and_their_secrets(host_process: str) -> None:
    result = run(unisolated(), READ_PROCESSES)

    assert host_process in result.stdout
    assert f"JEJAKEKAL_API_TOKEN={SECRET}" in result.stdout
    assert f"pid {os.getpid()} " in result.stdout


def test_without_bwrap_a_node_reads_and_writes_host_files(
    host_files: list[Path], tmp_path: Path
) -> None:
    database = host_files[0]

    result = run(unisolated(), f"cat {database}; echo y > {tmp_path}/w")

    assert result.stdout == SECRET
    assert (tmp_path / "w").read_text() == "y\n"
