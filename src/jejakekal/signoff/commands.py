"""One `jejakekal` command as a child process with a time limit, and what it left behind.

Each command runs in a session of its own: a drill or a bench starts servers of its own,
and a command that outlasts its limit is killed with all of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from jejakekal.domain.jsontypes import JsonObject
from jejakekal.processes import CLI

TAIL_LINES = 8
# Typer draws its usage errors in a box; the words inside are the evidence.
BOX = "".join(chr(c) for c in range(0x2500, 0x2580)) + " "


@dataclass(frozen=True)
class Ran:
    args: tuple[str, ...]
    returncode: int | None  # None: killed at its time limit
    seconds: float
    stdout: str
    stderr: str
    timeout: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def command(self) -> str:
        return " ".join(("jejakekal", *self.args))

    def evidence(self) -> JsonObject:
        """The command, how it ended, and the end of what it said on stderr."""
        found: JsonObject = {
            "command": self.command,
            "exit": self.returncode,
            "seconds": round(self.seconds, 1),
        }
        if self.returncode is None:
            found["timed_out_after_sec"] = self.timeout
        if not self.ok:
            found["stderr_tail"] = tail(self.stderr)
        return found

    def json_line(self) -> JsonObject | None:
        """The last stdout line as a JSON object (drills, smoke, `--json`), if it is one."""
        lines = self.stdout.strip().splitlines()
        try:
            parsed: object = json.loads(lines[-1]) if lines else None
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None


class Runner(Protocol):
    """Runs `jejakekal ARGS` for a check (in its scratch folder and environment by default)."""

    def __call__(
        self,
        args: list[str],
        timeout: float,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> Ran: ...


def run_cli(args: list[str], env: Mapping[str, str], cwd: Path, timeout: float) -> Ran:
    """`jejakekal ARGS` to its end, or killed (with its children) after `timeout` seconds."""
    started = time.monotonic()
    child = subprocess.Popen(
        [*CLI, *args],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = child.communicate(timeout=timeout)
        code: int | None = child.returncode
    except subprocess.TimeoutExpired:
        _kill_session(child)
        out, err = child.communicate()
        code = None
    return Ran(tuple(args), code, time.monotonic() - started, out, err, timeout)


def _kill_session(child: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
        os.killpg(child.pid, signal.SIGKILL)


def tail(text: str, lines: int = TAIL_LINES) -> list[str]:
    """The last lines of a child's output that say something, without the frames a
    terminal error panel draws around them, each cut to a readable length."""
    kept = [line.strip(BOX).strip()[:300] for line in text.splitlines()]
    return [line for line in kept if line][-lines:]
