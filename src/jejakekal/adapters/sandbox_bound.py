"""How the shell sandbox makes a node's processes end with the node (README, "Adapters").

Killing the node's process group is not enough: `setsid`, a double fork or `nohup` leave
it. Each node runs under the first of these that works on this host, and its
`ExecResult.process_bound` names it:

- `bwrap`: bubblewrap's `--unshare-pid` (part of `--unshare-all`) gives the node a PID
  namespace, and `--die-with-parent` ties it to us.
- `pid_namespace`: util-linux `unshare --pid --fork --kill-child` (as an ordinary user
  inside a user namespace that maps only the current user), tied to us by `setpriv
  --pdeathsig`.
- `subreaper`: the supervisor in `sandbox_reaper.py`, which inherits every orphan of the
  node and kills and reaps them all before it exits.

In both namespaces a small `sh` is the init (bwrap runs `--as-pid-1`: its own init reports
the command's exit before the namespace is torn down) and runs the command as its child,
so the command keeps ordinary signal handling (an init ignores signals it has no handler
for).
When the init exits, the kernel kills every other process in the namespace, and the
init's parent (bwrap or unshare, which exit only then) learns of it once they are all
gone: when the launcher has exited, so have the node's processes.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import shutil
import signal
import subprocess
import sys

from jejakekal.adapters import sandbox_reaper

BWRAP = "bwrap"
PID_NAMESPACE = "pid_namespace"
SUBREAPER = "subreaper"

# How long a killed node may take to be gone before we stop waiting for it. SIGKILL is
# not refused, so only a process stuck in the kernel (a dead NFS mount) takes this long.
END_GRACE_SEC = 10.0
_PROBE_TIMEOUT_SEC = 10.0
_BASE_PATH = "/usr/local/bin:/usr/bin:/bin"
# "$@" is not the last command, so sh forks it instead of exec'ing it as the init.
_INIT_SCRIPT = '"$@"; exit $?'


def namespace_init(shell: str, argv: list[str]) -> list[str]:
    """`argv` run as the child of a shell that is the init of its PID namespace."""
    return [shell, "-c", _INIT_SCRIPT, "sh", *argv]


def pid_namespace_argv(argv: list[str]) -> list[str] | None:
    """`argv` as the only program of a fresh PID namespace; None without util-linux."""
    unshare = shutil.which("unshare", path=_BASE_PATH)
    shell = shutil.which("sh", path=_BASE_PATH)
    if unshare is None or shell is None:
        return None
    # Without root, only a user namespace grants the right to create a PID namespace.
    user = [] if os.geteuid() == 0 else ["--user", "--map-current-user"]
    wrapped = [unshare, *user, "--pid", "--fork", "--kill-child", "--"]
    wrapped += namespace_init(shell, argv)
    setpriv = shutil.which("setpriv", path=_BASE_PATH)
    return [setpriv, "--pdeathsig", "KILL", "--", *wrapped] if setpriv else wrapped


def probe_pid_namespace() -> tuple[bool, str]:
    """Run `true` in a PID namespace as `execute` would; (worked, the complaint if not)."""
    argv = pid_namespace_argv(["true"])
    if argv is None:
        return False, "util-linux unshare not on PATH"
    return probe(argv)


def probe(argv: list[str]) -> tuple[bool, str]:
    """Run a probe command line; (it exited 0, what it said on stderr, or why it failed)."""
    try:
        done = subprocess.run(
            argv,
            env={"PATH": _BASE_PATH},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_PROBE_TIMEOUT_SEC,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return done.returncode == 0, done.stderr.decode("utf-8", errors="replace").strip()


def subreaper_argv(argv: list[str]) -> list[str]:
    # -I -S: the supervisor needs only the standard library, and starts faster without site.
    return [sys.executable, "-I", "-S", sandbox_reaper.__file__, str(os.getpid()), *argv]


def wait_unreaped(pid: int, timeout: float) -> bool:
    """Whether `pid` exited within `timeout`, leaving it a zombie (unlike Popen.wait)."""
    fd = os.pidfd_open(pid)
    try:
        return _poll(fd, timeout)
    finally:
        os.close(fd)


def end_node(pid: int, bound: str) -> None:
    """End a node whose launcher `pid` is still running; return once its processes are gone.

    The launcher stays unreaped meanwhile, so neither its pid nor its group id can have
    been reused. The caller kills the launcher's group and reaps it afterwards.
    """
    if bound == SUBREAPER:
        # The supervisor kills and reaps the whole tree on SIGTERM, then exits.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        wait_unreaped(pid, END_GRACE_SEC)
        return
    # The launcher's child is the namespace's init, which may sit in another session.
    inits = []
    for child in sandbox_reaper.children_of(pid):
        with contextlib.suppress(ProcessLookupError):
            inits.append(os.pidfd_open(child))
    try:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        for fd in inits:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(fd, signal.SIGKILL)
            _poll(fd, END_GRACE_SEC)
    finally:
        for fd in inits:
            os.close(fd)


def _poll(fd: int, timeout: float) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(max(0, math.ceil(timeout * 1000))))
