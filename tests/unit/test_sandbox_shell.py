"""The shell sandbox (README, "Adapters"), in both isolation modes and with each process bound."""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from jejakekal.adapters import sandbox_shell
from jejakekal.adapters.sandbox_shell import (
    BASE_PATH,
    TIMEOUT_EXIT_CODE,
    ShellSandbox,
    describe_isolation,
)
from jejakekal.domain.ports import ExecNode, OutFile

MIB = 1024 * 1024
BWRAP_MISSING = (
    "bwrap (bubblewrap) is not installed on this machine; `make test` installs it "
    "(scripts/system-packages)"
)


def node(argv: list[str], env: dict[str, str] | None = None, timeout: float = 10) -> ExecNode:
    return ExecNode(node_id="n1", argv=argv, env=env or {}, timeout_sec=timeout)


def bwrap_sandbox() -> ShellSandbox:
    """Fails, never skips, when bwrap is absent or installed but unusable."""
    if shutil.which("bwrap") is None:
        pytest.fail(BWRAP_MISSING)
    sandbox = ShellSandbox()
    assert sandbox.isolation == "bwrap", "bwrap is installed but its probe failed"
    return sandbox


@pytest.fixture(params=["subprocess", "subreaper", "bwrap"])
def sandbox(request: pytest.FixtureRequest) -> ShellSandbox:
    if request.param == "bwrap":
        return bwrap_sandbox()
    if request.param == "subreaper":
        # A plain subprocess where no PID namespace can be made: the supervisor bounds it.
        return ShellSandbox(use_bwrap=False, use_pid_namespace=False)
    return ShellSandbox(use_bwrap=False)


def live_members(pgid: int) -> list[int]:
    """Processes of the group that are still running (zombies awaiting a reaper excluded)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def processes_mentioning(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_text():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def eventually(check: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())


def test_printf_output_is_captured_with_exit_zero(sandbox: ShellSandbox) -> None:
    result = sandbox.execute(node(["printf", "hi"]))

    assert result.exit_code == 0
    assert result.stdout == "hi"
    assert result.stderr == ""
    assert not result.timed_out
    assert result.duration_ms > 0
    assert result.hashes["stdout"] == hashlib.sha256(b"hi").hexdigest()
    assert result.hashes["stderr"] == hashlib.sha256(b"").hexdigest()
    assert result.hashes["argv"] == hashlib.sha256(b'["printf","hi"]').hexdigest()


def test_files_left_in_the_workspace_are_listed_with_sha256(sandbox: ShellSandbox) -> None:
    script = "printf data > out.txt && mkdir sub && printf x > sub/b && ln -s /etc/hostname ln"

    result = sandbox.execute(node(["/bin/sh", "-c", script]))

    assert result.exit_code == 0, result.stderr
    assert result.files == {
        "out.txt": hashlib.sha256(b"data").hexdigest(),
        "sub/b": hashlib.sha256(b"x").hexdigest(),
    }
    assert list(result.files) == sorted(result.files)


def test_non_zero_exit_code_is_returned_not_raised(sandbox: ShellSandbox) -> None:
    result = sandbox.execute(node(["/bin/sh", "-c", "echo oops >&2; exit 3"]))

    assert result.exit_code == 3
    assert result.stderr == "oops\n"
    assert not result.timed_out
    assert result.fault is None


def test_missing_command_returns_127() -> None:
    result = ShellSandbox(use_bwrap=False).execute(node(["no-such-command-jejakekal"]))

    assert result.exit_code == 127
    assert "no-such-command-jejakekal" in result.stderr


def test_timeout_kills_the_whole_process_group(
    sandbox: ShellSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.process_bound  # noqa: B018 - probe now, so only the node's spawn is recorded below
    spawned: list[int] = []
    real_popen = subprocess.Popen

    def recording_popen(*args: Any, **kwargs: Any) -> Any:
        proc = real_popen(*args, **kwargs)
        spawned.append(proc.pid)
        return proc

    monkeypatch.setattr(subprocess, "Popen", recording_popen)
    marker = "30.4711"

    started = time.monotonic()
    script = f"sleep {marker} & sleep {marker}"
    result = sandbox.execute(node(["/bin/sh", "-c", script], timeout=0.5))
    elapsed = time.monotonic() - started

    assert result.timed_out
    assert result.exit_code == TIMEOUT_EXIT_CODE
    assert result.fault == "timeout"
    assert elapsed < 5
    assert len(spawned) == 1
    assert eventually(lambda: not live_members(spawned[0])), live_members(spawned[0])
    assert eventually(lambda: not processes_mentioning(marker))


def test_background_children_do_not_outlive_a_finished_command(sandbox: ShellSandbox) -> None:
    marker = "30.4712"

    result = sandbox.execute(node(["/bin/sh", "-c", f"(sleep {marker} &); echo done"]))

    assert result.exit_code == 0
    assert not result.timed_out
    assert eventually(lambda: not processes_mentioning(marker))


def test_environment_is_scrubbed_to_path_home_lang_and_node_env(
    sandbox: ShellSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JEJAKEKAL_TEST_SECRET", "must-not-leak")

    result = sandbox.execute(node(["env"], env={"JJK_GOAL": "g"}))

    env = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert "JEJAKEKAL_TEST_SECRET" not in env
    assert env["PATH"] == BASE_PATH
    assert env["LANG"] == "C.UTF-8"
    assert env["JJK_GOAL"] == "g"
    assert set(env) <= {"PATH", "HOME", "LANG", "JJK_GOAL", "PWD"}


def test_home_and_cwd_are_the_workspace_which_is_removed_afterwards(
    sandbox: ShellSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    result = sandbox.execute(node(["/bin/sh", "-c", 'test "$HOME" = "$(pwd)" && touch f']))

    assert result.exit_code == 0, result.stderr
    assert result.files == {"f": hashlib.sha256(b"").hexdigest()}
    assert list(tmp_path.iterdir()) == []


def test_each_node_gets_a_fresh_workspace(sandbox: ShellSandbox) -> None:
    sandbox.execute(node(["touch", "left-behind"]))

    result = sandbox.execute(node(["ls", "-A"]))

    assert result.stdout == ""
    assert result.files == {}


def test_output_is_cut_at_the_nodes_cap_and_its_whole_size_and_hash_recorded(
    sandbox: ShellSandbox,
) -> None:
    script = f"head -c {3 * MIB} /dev/zero | tr '\\0' a; echo err >&2"

    result = sandbox.execute(replace(node(["/bin/sh", "-c", script]), output_cap_bytes=MIB))

    assert result.exit_code == 0
    assert result.stdout == "a" * MIB
    assert (result.stdout_bytes, result.stderr_bytes) == (3 * MIB, 4)
    assert result.hashes["stdout"] == hashlib.sha256(b"a" * MIB).hexdigest()
    assert result.hashes["stdout_full"] == hashlib.sha256(b"a" * 3 * MIB).hexdigest()
    assert result.hashes["stderr"] == result.hashes["stderr_full"]
    assert result.fault is None


def test_the_whole_hash_is_of_the_bytes_the_kept_hash_of_the_decoded_text(
    sandbox: ShellSandbox,
) -> None:
    result = sandbox.execute(node(["printf", "\\377"]))

    assert result.hashes["stdout_full"] == hashlib.sha256(b"\xff").hexdigest()
    assert result.hashes["stdout"] == hashlib.sha256("\ufffd".encode()).hexdigest()
    assert result.stdout_bytes == 1


def test_invalid_utf8_output_is_replaced_not_raised(sandbox: ShellSandbox) -> None:
    result = sandbox.execute(node(["printf", "\\377ok"]))

    assert result.stdout == "\ufffdok"


def test_files_are_written_into_the_workspace_before_the_command_runs(
    sandbox: ShellSandbox,
) -> None:
    files = {"in.txt": "héllo\n", "sub/dir/run.sh": "echo ran"}
    script = "cat in.txt && sh sub/dir/run.sh && echo more >> in.txt && rm sub/dir/run.sh"

    result = sandbox.execute(replace(node(["/bin/sh", "-c", script]), files=files))

    assert result.exit_code == 0, result.stderr
    assert result.stdout == "héllo\nran\n"
    assert result.files == {"in.txt": hashlib.sha256("héllo\nmore\n".encode()).hexdigest()}


@pytest.mark.parametrize(
    "files",
    [
        {"/etc/cron.d/x": "x"},
        {"../escape": "x"},
        {"a/../../escape": "x"},
        {"a/../b": "x"},
        {"": "x"},
        {".": "x"},
        {"a": "x", "a/b": "y"},  # "a" is a file, so it cannot be a folder too
        {"a/b": "x", "a/./b": "y"},  # one file named twice
    ],
)
def test_file_names_that_leave_or_clash_in_the_workspace_are_refused(
    files: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    with pytest.raises(ValueError, match="file '"):
        ShellSandbox(use_bwrap=False).execute(replace(node(["true"]), files=files))

    assert list(tmp_path.iterdir()) == []


OUT_SCRIPT = "mkdir -p out/sub && printf 1 > out/b && printf 22 > out/sub/a && printf z > notout"


def test_regular_files_under_out_come_back_sorted_by_path(sandbox: ShellSandbox) -> None:
    result = sandbox.execute(node(["/bin/sh", "-c", OUT_SCRIPT]))

    assert result.out_files == (
        OutFile(path="out/b", content=b"1", size=1, sha256=hashlib.sha256(b"1").hexdigest()),
        OutFile(path="out/sub/a", content=b"22", size=2, sha256=hashlib.sha256(b"22").hexdigest()),
    )
    assert result.out_files_dropped == 0
    assert "notout" in result.files


def test_out_files_beyond_the_count_cap_are_counted_not_kept(sandbox: ShellSandbox) -> None:
    script = "mkdir out && for n in 5 4 3 2 1; do printf $n > out/f$n; done"

    result = sandbox.execute(replace(node(["/bin/sh", "-c", script]), max_out_files=3))

    assert [f.path for f in result.out_files] == ["out/f1", "out/f2", "out/f3"]
    assert result.out_files_dropped == 2
    assert len(result.files) == 5


def test_an_out_file_is_cut_at_the_size_cap_with_its_whole_size_and_hash(
    sandbox: ShellSandbox,
) -> None:
    script = "mkdir out && printf 0123456789 > out/big"

    result = sandbox.execute(replace(node(["/bin/sh", "-c", script]), max_out_file_bytes=4))

    (big,) = result.out_files
    assert (big.content, big.size, big.truncated) == (b"0123", 10, True)
    assert big.sha256 == hashlib.sha256(b"0123456789").hexdigest()


def test_symlinks_and_fifos_under_out_are_neither_followed_nor_read(
    sandbox: ShellSandbox, tmp_path: Path
) -> None:
    host_file = tmp_path / "host-secret"
    host_file.write_text("secret")
    script = f"mkdir out && ln -s {host_file} out/link && ln -s {tmp_path} out/dir && mkfifo out/p"

    result = sandbox.execute(node(["/bin/sh", "-c", script]))

    assert result.exit_code == 0, result.stderr
    assert result.out_files == ()
    assert result.out_files_dropped == 0


def test_an_out_that_is_a_symlink_to_a_folder_is_not_walked(
    sandbox: ShellSandbox, tmp_path: Path
) -> None:
    (tmp_path / "host-secret").write_text("secret")

    result = sandbox.execute(node(["ln", "-s", str(tmp_path), "out"]))

    assert result.exit_code == 0, result.stderr
    assert (result.out_files, result.files) == ((), {})


def test_hitting_the_file_size_limit_is_a_limit_fault(
    sandbox: ShellSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox_shell, "FILE_SIZE_BYTES", MIB)

    result = sandbox.execute(node(["/bin/sh", "-c", f"head -c {2 * MIB} /dev/zero > big"]))

    assert result.exit_code == 128 + signal.SIGXFSZ
    assert result.fault == "limit"
    assert not result.timed_out


def test_spending_the_cpu_time_limit_is_a_limit_fault(
    sandbox: ShellSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Threads on several cores can spend CPU time faster than the wall clock runs; one
    # spinner under a one-second CPU limit stands in for them.
    real = sandbox_shell.rlimits_for
    monkeypatch.setattr(
        sandbox_shell,
        "rlimits_for",
        lambda timeout: [
            (which, 1, 2) if which == resource.RLIMIT_CPU else (which, soft, hard)
            for which, soft, hard in real(timeout)
        ],
    )

    result = sandbox.execute(node(["/bin/sh", "-c", "while :; do :; done"], timeout=20))

    assert result.exit_code == 128 + signal.SIGXCPU
    assert result.fault == "limit"


@pytest.mark.parametrize("setter", ["prlimit", "preexec_fn"])
def test_rlimits_apply_to_the_command(
    sandbox: ShellSandbox, monkeypatch: pytest.MonkeyPatch, setter: str
) -> None:
    if setter == "preexec_fn":
        # A host without util-linux prlimit: the limits are set between fork and exec.
        real_which = shutil.which
        monkeypatch.setattr(
            sandbox_shell.shutil,
            "which",
            lambda cmd, **kw: None if cmd == "prlimit" else real_which(cmd, **kw),
        )
    else:
        assert shutil.which("prlimit", path=sandbox_shell.BASE_PATH), "util-linux prlimit"
    script = "ulimit -c; ulimit -f; ulimit -v; ulimit -t"

    result = sandbox.execute(node(["/bin/sh", "-c", script], timeout=3))

    # The shell reports core and file size in 512-byte blocks, address space in KiB, CPU in s.
    assert result.stdout.split() == ["0", str(64 * 1024 * 1024 // 512), str(1024 * 1024), "4"]


def test_unreadable_outputs_are_still_hashed_and_removed(
    sandbox: ShellSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    script = "mkdir d && printf s > d/f && chmod 000 d/f && chmod 000 d"

    result = sandbox.execute(node(["/bin/sh", "-c", script]))

    assert result.files == {"d/f": hashlib.sha256(b"s").hexdigest()}
    assert list(tmp_path.iterdir()) == []


def test_use_bwrap_false_runs_a_plain_subprocess() -> None:
    result = ShellSandbox(use_bwrap=False).execute(node(["true"]))

    assert result.isolation == "subprocess"
    assert ShellSandbox(use_bwrap=False).isolation == "subprocess"


def test_empty_argv_is_rejected() -> None:
    with pytest.raises(ValueError, match="argv is empty"):
        ShellSandbox(use_bwrap=False).execute(node([]))


def test_use_bwrap_true_raises_when_bwrap_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")

    with pytest.raises(RuntimeError, match="bwrap was required"):
        ShellSandbox(use_bwrap=True)


def test_auto_detection_falls_back_to_subprocess_without_bwrap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    sandbox = ShellSandbox()

    result = sandbox.execute(node(["/bin/echo", "x"]))

    assert result.isolation == "subprocess"
    assert result.stdout == "x\n"


def test_bwrap_leaves_the_command_no_network_but_loopback() -> None:
    sandbox = bwrap_sandbox()

    result = sandbox.execute(node(["cat", "/proc/net/dev"]))

    assert result.isolation == "bwrap"
    interfaces = [line.split(":")[0].strip() for line in result.stdout.splitlines()[2:]]
    assert interfaces == ["lo"]


def test_bwrap_runs_as_nobody_with_only_the_workspace_writable() -> None:
    sandbox = bwrap_sandbox()
    script = "id -u; id -g; touch /usr/x 2>/dev/null || echo ro; test -e /root || echo hidden"

    result = sandbox.execute(node(["/bin/sh", "-c", script]))

    assert result.stdout.split() == ["65534", "65534", "ro", "hidden"]


def test_describe_isolation_reports_the_host() -> None:
    report = describe_isolation()

    assert report["bwrap_found"] == (shutil.which("bwrap") is not None)
    assert report["rlimits_applied"] is True
    assert report["nproc_limit_effective"] == (os.geteuid() != 0)
    expected = "bwrap" if report["bwrap_probe_ok"] else "subprocess"
    assert report["isolation"] == expected
    assert report["pid_namespace_probe_ok"] is True, report["pid_namespace_probe_detail"]
    assert report["process_bound"] == ("bwrap" if report["bwrap_probe_ok"] else "pid_namespace")


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_workspaces_of_dead_processes_are_removed_and_no_others(tmp_path: Path) -> None:
    dead, alive = _dead_pid(), os.getpid()
    orphan = tmp_path / f"jejakekal-sbx-{dead}-abc123"
    (orphan / "sub").mkdir(parents=True)
    (orphan / "sub" / "locked").write_text("x")
    (orphan / "sub" / "locked").chmod(0)
    (orphan / "sub").chmod(0)  # what a command may leave: nothing readable
    orphan_probe = tmp_path / f"jejakekal-probe-{dead}-xyz"
    orphan_probe.mkdir()
    kept = [
        tmp_path / f"jejakekal-sbx-{alive}-def456",  # a live process's node
        tmp_path / "jejakekal-sbx-1wzv8o84",  # named before pids were part of the name
        tmp_path / "jejakekal-sbx-0-zero",  # not a process we can judge
        tmp_path / f"other-{dead}-abc",
    ]
    for path in kept:
        path.mkdir()

    removed = sandbox_shell.remove_orphan_workspaces(str(tmp_path))

    assert removed == sorted([str(orphan), str(orphan_probe)])
    assert sorted(tmp_path.iterdir()) == sorted(kept)


def test_a_running_node_has_a_workspace_named_for_its_process_which_the_sweep_keeps(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    sandbox = ShellSandbox(use_bwrap=False)
    marker = tmp_path / "started"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(sandbox.execute, node(["/bin/sh", "-c", f"touch {marker}; sleep 1"]))
        assert eventually(marker.exists)
        workspaces = [p.name for p in tmp_path.iterdir() if p.name != "started"]
        assert sandbox_shell.remove_orphan_workspaces(str(tmp_path)) == []
        assert running.result().exit_code == 0

    assert len(workspaces) == 1
    assert workspaces[0].startswith(f"jejakekal-sbx-{os.getpid()}-")


# Every process a node starts ends with the node, also those that left its process group.
# Each escapee touches `ready.<pid>` and then sleeps with the test's marker in its command
# line (from its start, as an argument of `sh`), so a leftover is found by the marker
# whichever PID namespace numbered it.
ESCAPEE = 'touch "ready.$$"; exec sleep "$1"'
ESCAPES = [
    "setsid sh escapee {m} &",
    "(sh escapee {m} &)",  # a double fork: the subshell exits, its child is orphaned
    "nohup sh escapee {m} >/dev/null 2>&1 &",
    "sh -c 'setsid sh escapee {m} & exit'",
]
WAIT_READY = 'until [ "$(ls ready.* 2>/dev/null | wc -l)" -ge 4 ]; do sleep 0.01; done'


def escaping_node(marker: str, then: str, timeout: float) -> ExecNode:
    lines = [f"printf '%s\\n' '{ESCAPEE}' > escapee", *ESCAPES, WAIT_READY, then]
    script = "\n".join(lines).replace("{m}", marker)
    return node(["/bin/sh", "-c", script], timeout=timeout)


def unique_marker() -> str:
    # A sleep length no other test or process on the host is likely to use.
    return f"300.{secrets.randbelow(10**9):09d}"


def ready_files(result: Any) -> list[str]:
    return [name for name in result.files if name.startswith("ready.")]


@pytest.fixture(params=["bwrap", "pid_namespace", "subreaper"])
def bounded(request: pytest.FixtureRequest) -> tuple[ShellSandbox, str]:
    if request.param == "bwrap":
        return bwrap_sandbox(), "bwrap"
    if request.param == "pid_namespace":
        return ShellSandbox(use_bwrap=False, use_pid_namespace=True), "pid_namespace"
    return ShellSandbox(use_bwrap=False, use_pid_namespace=False), "subreaper"


def test_processes_that_left_the_group_end_when_the_node_exits(
    bounded: tuple[ShellSandbox, str],
) -> None:
    sandbox, mechanism = bounded
    marker = unique_marker()

    result = sandbox.execute(escaping_node(marker, "exit 3", timeout=30))

    assert result.exit_code == 3, result.stderr
    assert len(ready_files(result)) == 4, result.stderr
    assert result.process_bound == mechanism
    assert processes_mentioning(marker) == []


def test_processes_that_left_the_group_end_when_the_node_times_out(
    bounded: tuple[ShellSandbox, str],
) -> None:
    sandbox, mechanism = bounded
    marker = unique_marker()

    result = sandbox.execute(escaping_node(marker, f"sleep {marker}", timeout=3))

    assert result.timed_out
    assert result.exit_code == TIMEOUT_EXIT_CODE
    assert len(ready_files(result)) == 4, result.stderr
    assert result.process_bound == mechanism
    assert processes_mentioning(marker) == []


WORKER = """
import sys
from jejakekal.adapters.sandbox_shell import ShellSandbox
from jejakekal.domain.ports import ExecNode
mechanism, script = sys.argv[1], sys.argv[2]
sandbox = {
    "bwrap": ShellSandbox(use_bwrap=True),
    "pid_namespace": ShellSandbox(use_bwrap=False, use_pid_namespace=True),
    "subreaper": ShellSandbox(use_bwrap=False, use_pid_namespace=False),
}[mechanism]
sandbox.execute(ExecNode(node_id="n1", argv=["/bin/sh", "-c", script], env={}, timeout_sec=60))
"""


def test_a_nodes_processes_end_when_the_worker_running_it_is_killed(
    bounded: tuple[ShellSandbox, str], tmp_path: Path
) -> None:
    _, mechanism = bounded
    marker = unique_marker()
    script = escaping_node(marker, f"sleep {marker}", timeout=60).argv[2]
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, mechanism, script],
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    try:
        ready = lambda: len(list(tmp_path.glob("jejakekal-sbx-*/ready.*"))) == 4  # noqa: E731
        assert eventually(ready, seconds=30)
        assert processes_mentioning(marker)
    finally:
        worker.kill()
        worker.wait()

    # The kill is asynchronous: the node learns of its parent's death from the kernel.
    assert eventually(lambda: not processes_mentioning(marker)), processes_mentioning(marker)


def test_pid_namespace_required_but_unavailable_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(sandbox_shell.sandbox_bound, "_BASE_PATH", "/nonexistent")

    with pytest.raises(RuntimeError, match="PID namespace was required"):
        ShellSandbox(use_bwrap=False, use_pid_namespace=True)


def test_without_a_pid_namespace_the_subreaper_bounds_the_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sandbox_shell.sandbox_bound, "_BASE_PATH", "/nonexistent")
    sandbox = ShellSandbox(use_bwrap=False)

    result = sandbox.execute(node(["/bin/sh", "-c", "echo x; exit 4"]))

    assert (result.process_bound, result.exit_code, result.stdout) == ("subreaper", 4, "x\n")
