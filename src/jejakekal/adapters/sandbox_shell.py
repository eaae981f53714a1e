"""Shell sandbox (README, "Adapters"): run one execution node in a throwaway workspace.

Every node gets a fresh temporary directory as its working directory and HOME, a
scrubbed environment, a wall-clock limit and rlimits (CPU, address space, file size,
processes, no core dumps). Where bubblewrap (`bwrap`) is installed and user namespaces
work, the command also runs inside it: no network, only the workspace writable, only the
system folders visible (read-only), uid/gid 65534. Elsewhere it is a plain subprocess
running as this process's user, with the host's network and file system; each
`ExecResult.isolation` records which of the two that execution had.

Whichever the isolation, every process a node starts ends with it (normally, on timeout
or on failure, and when this process dies), including ones that left its process group:
`ExecResult.process_bound` names the mechanism that saw to it (see sandbox_bound).

The node's `files` are written into the workspace before its command runs. Afterwards
stdout and stderr are kept up to the node's cap (their whole sizes and sha256 recorded,
so a cut shows) and the regular files under `out/` come back capped in count and size
(see sandbox_workspace). `ExecResult.fault` tells the sandbox ending a node (timeout,
limit) from the command's own exit.

Exit codes follow shell conventions: 124 when the wall-clock limit killed the command
(as coreutils `timeout`), 128+N after death by signal N (so 137 for SIGKILL, 152 for
SIGXCPU, 153 for SIGXFSZ), 127/126 when the command cannot be found/executed.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from jejakekal.adapters import sandbox_bound, sandbox_workspace
from jejakekal.adapters.sandbox_bound import BWRAP, PID_NAMESPACE, SUBREAPER
from jejakekal.domain.canonical import canonical_json
from jejakekal.domain.compiler import sha256_text
from jejakekal.domain.ports import ExecNode, ExecResult, Fault

BASE_PATH = "/usr/local/bin:/usr/bin:/bin"
TIMEOUT_EXIT_CODE = 124
# What a limit we set ends a command with: SIGXCPU (CPU time) or SIGXFSZ (file size).
_LIMIT_EXIT_CODES = frozenset({128 + signal.SIGXCPU, 128 + signal.SIGXFSZ})
ADDRESS_SPACE_BYTES = 1024**3
FILE_SIZE_BYTES = 64 * 1024**2
MAX_PROCESSES = 256
SANDBOX_UID = 65534  # "nobody"
# Inside bwrap the workspace always appears here, so output mentioning the working
# directory does not vary with the host's random temporary path.
BWRAP_WORKDIR = "/work"

_SYSTEM_DIRS = ("/usr", "/bin", "/lib", "/lib64")
# The loader cache lets binaries find libraries registered outside the default paths;
# the host name and time zone are no secrets, and common commands read them. The rest
# of /etc (passwd, shadow, keys) stays out.
_SYSTEM_EXTRAS = ("/etc/alternatives", "/etc/ld.so.cache", "/etc/hostname", "/etc/localtime")
_PROBE_TIMEOUT_SEC = 10.0
# Temporary folders carry their creator's pid: `<prefix><pid>-<random>`.
WORKSPACE_PREFIX = "jejakekal-sbx-"
PROBE_PREFIX = "jejakekal-probe-"

Limits = list[tuple[int, int, int]]  # (resource, soft, hard)


def rlimits_for(timeout_sec: float) -> Limits:
    """The (resource, soft, hard) limits a node runs under, clamped to the inherited hard ones.

    An unprivileged process cannot raise a hard limit, and asking would make the child
    fail before exec, so a host limit lower than ours wins.
    """
    wanted = [
        # The wall clock kills first; the CPU limit only stops a spinner that escaped it
        # (threads on several cores spend CPU time faster than the clock runs). The hard
        # limit a second above the soft one makes the kernel send SIGXCPU (exit 152, a
        # "limit" fault) first; at equal limits it sends only SIGKILL (137).
        (resource.RLIMIT_CPU, math.ceil(timeout_sec) + 1, math.ceil(timeout_sec) + 2),
        # Runtimes that reserve large virtual ranges up front (JVM, Go) need more than this.
        (resource.RLIMIT_AS, ADDRESS_SPACE_BYTES, ADDRESS_SPACE_BYTES),
        (resource.RLIMIT_FSIZE, FILE_SIZE_BYTES, FILE_SIZE_BYTES),
        # RLIMIT_NPROC counts every process of the real uid, and root (or CAP_SYS_RESOURCE)
        # is exempt: running as root it limits nothing, as an ordinary user it counts the
        # user's other processes too.
        (resource.RLIMIT_NPROC, MAX_PROCESSES, MAX_PROCESSES),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    limits: Limits = []
    for which, soft, hard in wanted:
        inherited = resource.getrlimit(which)[1]
        if inherited != resource.RLIM_INFINITY:
            soft, hard = min(soft, inherited), min(hard, inherited)
        limits.append((which, soft, hard))
    return limits


# prlimit's option for each resource we limit.
_PRLIMIT_OPTIONS = {
    resource.RLIMIT_CPU: "--cpu",
    resource.RLIMIT_AS: "--as",
    resource.RLIMIT_FSIZE: "--fsize",
    resource.RLIMIT_NPROC: "--nproc",
    resource.RLIMIT_CORE: "--core",
}


def limited_argv(argv: list[str], limits: Limits, prlimit: str | None) -> list[str]:
    """`argv` behind util-linux `prlimit`, which sets the limits and then execs it.

    Setting them in Python between fork and exec (`preexec_fn`) would work too, but it
    rules out vfork: forking this whole process costs about 20 ms a node, against about
    1 ms for prlimit's extra exec. Without prlimit the caller falls back to `preexec_fn`.
    """
    if prlimit is None:
        return argv
    options = [f"{_PRLIMIT_OPTIONS[which]}={soft}:{hard}" for which, soft, hard in limits]
    return [prlimit, *options, "--", *argv]


def _limiter(limits: Limits) -> Callable[[], None]:
    # Runs in the forked child before exec, possibly forked from a threaded process: it
    # only calls setrlimit on values computed in the parent, so it takes no locks.
    def apply() -> None:
        for which, soft, hard in limits:
            resource.setrlimit(which, (soft, hard))

    return apply


def bwrap_argv(bwrap: str, workspace: str, argv: list[str]) -> list[str]:
    """The bubblewrap command line that runs `argv` with `workspace` as its only writable dir."""
    args = [bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"]
    # bwrap's own init reports the command's exit before the namespace is torn down, so
    # processes the command left could outlive bwrap for a moment; ours (a shell) cannot.
    args += ["--as-pid-1"]
    args += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    for path in _SYSTEM_DIRS:
        # On merged-/usr systems /bin and /lib are symlinks; recreate them rather than bind.
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in _SYSTEM_EXTRAS:
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    args += ["--bind", workspace, BWRAP_WORKDIR, "--chdir", BWRAP_WORKDIR]
    return [*args, "--", *sandbox_bound.namespace_init("/bin/sh", argv)]


def probe_bwrap(bwrap: str) -> tuple[bool, str]:
    """Run `true` under the exact flags `execute` uses; (worked, bwrap's complaint if not)."""
    with tempfile.TemporaryDirectory(prefix=_owned(PROBE_PREFIX)) as workspace:
        return sandbox_bound.probe(bwrap_argv(bwrap, workspace, ["true"]))


class ShellSandbox:
    """The default sandbox; `use_bwrap`: None detects bwrap, False never uses it, True
    requires it (and raises RuntimeError here when it does not work). `use_pid_namespace`
    likewise for the PID namespace that bounds a node's processes without bwrap; without
    either, the subreaper supervisor does."""

    name = "shell"

    def __init__(
        self, use_bwrap: bool | None = None, use_pid_namespace: bool | None = None
    ) -> None:
        self._use_bwrap = use_bwrap
        self._use_pid_namespace = use_pid_namespace
        self._lock = threading.Lock()
        self._probed = use_bwrap is False
        self._bwrap: str | None = None
        self._pid_namespace: bool | None = False if use_pid_namespace is False else None
        if use_bwrap:
            self._bwrap_path()
        if use_pid_namespace:
            self._pid_namespace_works()

    @property
    def isolation(self) -> str:
        return "bwrap" if self._bwrap_path() else "subprocess"

    @property
    def process_bound(self) -> str:
        """The mechanism that ends the processes of this sandbox's nodes."""
        if self._bwrap_path():
            return BWRAP
        return PID_NAMESPACE if self._pid_namespace_works() else SUBREAPER

    def _pid_namespace_works(self) -> bool:
        with self._lock:
            if self._pid_namespace is None:
                ok, detail = sandbox_bound.probe_pid_namespace()
                if self._use_pid_namespace and not ok:
                    raise RuntimeError(f"a PID namespace was required but fails: {detail}")
                self._pid_namespace = ok
            return self._pid_namespace

    def _bwrap_path(self) -> str | None:
        # Probed once per instance: a probe costs a few milliseconds and nodes run often.
        with self._lock:
            if not self._probed:
                found = shutil.which("bwrap")
                ok, detail = probe_bwrap(found) if found else (False, "bwrap not on PATH")
                if self._use_bwrap and not ok:
                    raise RuntimeError(f"bwrap was required but is unusable: {detail}")
                self._bwrap = found if ok else None
                self._probed = True
            return self._bwrap

    def execute(self, node: ExecNode) -> ExecResult:
        if not node.argv:
            raise ValueError(f"{node.node_id}: argv is empty")
        bwrap, bound = self._bwrap_path(), self.process_bound
        workspace = tempfile.mkdtemp(prefix=_owned(WORKSPACE_PREFIX))
        try:
            # Written by this process: under bwrap its uid is the sandbox's, so the node
            # can change and remove them like its own files.
            sandbox_workspace.write_files(workspace, node.files)
            home = BWRAP_WORKDIR if bwrap else workspace
            env = {"PATH": BASE_PATH, "HOME": home, "LANG": "C.UTF-8", **node.env}
            argv = _bounded_argv(bwrap, bound, workspace, node.argv)
            # Output goes to anonymous files, not pipes: memory stays bounded, RLIMIT_FSIZE
            # caps what the command can write, and a killed command leaves nothing to drain.
            with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
                started = time.perf_counter()
                exit_code, timed_out = _run(
                    argv, workspace, env, (out, err), node.timeout_sec, bound
                )
                duration_ms = (time.perf_counter() - started) * 1000
                stdout = _captured(out, node.output_cap_bytes)
                stderr = _captured(err, node.output_cap_bytes)
            sandbox_workspace.reclaim(workspace)
            files = sandbox_workspace.hash_tree(workspace)
            kept, dropped = sandbox_workspace.out_files(
                workspace, files, node.max_out_files, node.max_out_file_bytes
            )
        finally:
            sandbox_workspace.remove(workspace)
        return ExecResult(
            exit_code=exit_code,
            stdout=stdout.text,
            stderr=stderr.text,
            files=files,
            duration_ms=duration_ms,
            isolation="bwrap" if bwrap else "subprocess",
            process_bound=bound,
            timed_out=timed_out,
            hashes={
                "stdout": sha256_text(stdout.text),
                "stderr": sha256_text(stderr.text),
                "stdout_full": stdout.sha256,
                "stderr_full": stderr.sha256,
                "argv": sha256_text(canonical_json(node.argv)),
            },
            stdout_bytes=stdout.size,
            stderr_bytes=stderr.size,
            out_files=kept,
            out_files_dropped=dropped,
            fault=fault_of(exit_code, timed_out),
        )


def fault_of(exit_code: int, timed_out: bool) -> Fault | None:
    """ "timeout" when the wall clock ended the node, "limit" when a CPU time or file size
    limit did; None when the command ended on its own, whatever its exit code.

    A command that exits 152 or 153 itself reads as a limit too (the shell's convention
    cannot tell them apart). Address space and process limits make calls fail inside the
    command rather than kill it, so they show as the command's own failure.
    """
    if timed_out:
        return "timeout"
    return "limit" if exit_code in _LIMIT_EXIT_CODES else None


def _bounded_argv(bwrap: str | None, bound: str, workspace: str, argv: list[str]) -> list[str]:
    if bwrap:
        return bwrap_argv(bwrap, workspace, argv)
    if bound == PID_NAMESPACE:
        wrapped = sandbox_bound.pid_namespace_argv(argv)
        # The probe succeeded, so unshare was there; it cannot vanish but mypy cannot know.
        return wrapped if wrapped is not None else sandbox_bound.subreaper_argv(argv)
    return sandbox_bound.subreaper_argv(argv)


def _owned(prefix: str) -> str:
    return f"{prefix}{os.getpid()}-"


def remove_orphan_workspaces(root: str | None = None) -> list[str]:
    """Remove the workspaces of sandbox processes that died mid-node; the removed paths.

    A SIGKILLed worker cannot tidy up after the node it was running. A folder's name
    carries the pid of its creator, and only folders of pids that no longer exist go, so
    this is safe beside live workers sharing the temporary folder (on one host, in one
    pid namespace). Folders named before pids were part of the name are left alone.
    """
    removed = []
    for prefix in (WORKSPACE_PREFIX, PROBE_PREFIX):
        for path in glob.glob(os.path.join(root or tempfile.gettempdir(), f"{prefix}*-*")):
            pid = os.path.basename(path)[len(prefix) :].split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                sandbox_workspace.remove(path)
                removed.append(path)
    return sorted(removed)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return True  # not a process id we can judge; keep its folder
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _run(
    argv: list[str],
    cwd: str,
    env: dict[str, str],
    outputs: tuple[IO[bytes], IO[bytes]],
    timeout: float,
    bound: str,
) -> tuple[int, bool]:
    """Run to completion or to the deadline; (exit code, timed out). When it returns, every
    process the command started has ended."""
    out, err = outputs
    limits = rlimits_for(timeout)
    prlimit = shutil.which("prlimit", path=BASE_PATH)
    try:
        proc = subprocess.Popen(
            limited_argv(argv, limits, prlimit),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            preexec_fn=None if prlimit else _limiter(limits),
        )
    except OSError as exc:
        err.write(f"{exc}\n".encode())
        return (127 if isinstance(exc, FileNotFoundError) else 126), False
    try:
        exited = sandbox_bound.wait_unreaped(proc.pid, timeout)
        if not exited:
            sandbox_bound.end_node(proc.pid, bound)
    finally:
        # A last resort (the launcher has normally ended its processes already); the leader
        # is not reaped yet, so its group id cannot have been reused meanwhile.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        code = proc.wait()
    if not exited:
        return TIMEOUT_EXIT_CODE, True
    return (128 - code if code < 0 else code), False


@dataclass(frozen=True)
class _Captured:
    text: str  # the first `cap` bytes, decoded
    size: int  # the whole stream's
    sha256: str  # the whole stream's


def _captured(stream: io.BufferedRandom, cap: int) -> _Captured:
    size = os.fstat(stream.fileno()).st_size
    stream.seek(0)
    kept = stream.read(cap)
    if len(kept) < size:
        stream.seek(0)
        digest = hashlib.file_digest(stream, "sha256").hexdigest()
    else:
        digest = hashlib.sha256(kept).hexdigest()
    return _Captured(kept.decode("utf-8", errors="replace"), size, digest)


def _observed_rlimits() -> dict[str, int]:
    """The limits a child actually runs under, read back from a child (not just requested)."""
    # In the order of rlimits_for, so describe_isolation can compare the two.
    names = {
        "cpu_sec": "RLIMIT_CPU",
        "address_space_bytes": "RLIMIT_AS",
        "file_size_bytes": "RLIMIT_FSIZE",
        "processes": "RLIMIT_NPROC",
        "core_bytes": "RLIMIT_CORE",
    }
    script = (
        "import resource as r, sys\nfor n in sys.argv[1:]:\n print(r.getrlimit(getattr(r, n))[0])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *names.values()],
        env={"PATH": BASE_PATH},
        capture_output=True,
        text=True,
        timeout=_PROBE_TIMEOUT_SEC,
        check=True,
        preexec_fn=_limiter(rlimits_for(1.0)),
    )
    return dict(zip(names, map(int, done.stdout.split()), strict=True))


def describe_isolation() -> dict[str, object]:
    """What this host offers the shell sandbox: its isolation, process bound and limits."""
    found = shutil.which("bwrap")
    ok, detail = probe_bwrap(found) if found else (False, "bwrap not on PATH")
    pidns_ok, pidns_detail = sandbox_bound.probe_pid_namespace()
    expected = [soft for _, soft, _ in rlimits_for(1.0)]
    observed = _observed_rlimits()
    return {
        "isolation": "bwrap" if ok else "subprocess",
        # What ends every process a node starts when the node ends (see sandbox_bound).
        "process_bound": BWRAP if ok else (PID_NAMESPACE if pidns_ok else SUBREAPER),
        "pid_namespace_probe_ok": pidns_ok,
        "pid_namespace_probe_detail": pidns_detail,
        "bwrap_path": found,
        "bwrap_found": found is not None,
        "bwrap_probe_ok": ok,
        "bwrap_probe_detail": detail,
        "network": "none" if ok else "host",
        "rlimits": observed,
        "rlimits_applied": list(observed.values()) == expected,
        # See rlimits_for: root is exempt from RLIMIT_NPROC.
        "nproc_limit_effective": os.geteuid() != 0,
    }
