"""The shell sandbox's last-resort process bound: a supervisor that reaps a tree
(README, "Adapters").

Where neither bubblewrap nor a PID namespace works, a node runs under this script
(`python -I -S sandbox_reaper.py PARENT_PID CMD...`; it imports only the standard library).
It marks itself a child subreaper, so every process the command orphans (`setsid`, a
double fork, `nohup`) is reparented to it rather than to init; when the command exits,
or when SIGTERM (the timeout) or the death of its parent arrives, it SIGKILLs every
descendant and reaps until it has no child left, and only then exits. Its exit code is
the command's (128+N after death by signal N; 127/126 when it cannot be found/executed).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
# Python ignores these at start-up and a spawned child would inherit that (subprocess's
# restore_signals does the same).
_RESTORED_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)
_WATCHED = {signal.SIGCHLD, signal.SIGTERM}


def children_of(pid: int) -> list[int]:
    """The live and zombie children of `pid`, read from /proc (a snapshot)."""
    return _process_tree().get(pid, [])


def descendants_of(pid: int) -> list[int]:
    tree, found = _process_tree(), []
    pending = list(tree.get(pid, []))
    while pending:
        child = pending.pop()
        found.append(child)
        pending.extend(tree.get(child, []))
    return found


def _process_tree() -> dict[int, list[int]]:
    """Parent pid -> child pids (os, not pathlib, whose import would slow every start-up)."""
    tree: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                # The command name may hold spaces and ")"; the fields follow the last ")".
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited while we looked
        tree.setdefault(int(fields[1]), []).append(int(name))
    return tree


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def _wait_for(pid: int) -> int:
    """Reap children (orphans included) until `pid` exits or SIGTERM comes; an exit code.

    Both signals are blocked and taken synchronously, so a SIGTERM can never cut the
    clean-up short: it is only ever read here.
    """
    while True:
        if signal.sigwaitinfo(_WATCHED).si_signo == signal.SIGTERM:
            return 128 + signal.SIGTERM
        with contextlib.suppress(ChildProcessError):
            while (reaped := os.waitpid(-1, os.WNOHANG))[0] != 0:
                if reaped[0] == pid:
                    code = os.waitstatus_to_exitcode(reaped[1])
                    return 128 - code if code < 0 else code


def kill_and_reap_all() -> None:
    """SIGKILL every descendant and reap until none is left.

    As the subreaper, this process inherits every orphan, so having no child at all means
    having no descendant. Each round kills a fresh snapshot, which holds all current
    children, so the blocking wait always has a death to report.
    """
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0] != 0:
                pass
        except ChildProcessError:
            return
        for pid in descendants_of(os.getpid()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def supervise(parent: int, argv: list[str]) -> int:
    signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    # A worker killed mid-node must not leave the node running: its death sends SIGTERM.
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        return 128 + signal.SIGTERM  # it died before we asked to be told
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ, setsigmask=(), setsigdef=_RESTORED_SIGNALS)
    except OSError as exc:
        print(f"{argv[0]}: {exc.strerror}", file=sys.stderr)
        return 127 if isinstance(exc, FileNotFoundError) else 126
    code = _wait_for(pid)
    kill_and_reap_all()
    return code


if __name__ == "__main__":
    sys.exit(supervise(int(sys.argv[1]), sys.argv[2:]))
