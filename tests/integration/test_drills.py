"""The durability drills (README, "Drills"), run as an operator runs them, on both backends.

Each drill starts, SIGKILLs and restarts its own `jejakekal api` processes; here it
runs in a bounded form and must print an `ok` verdict and exit 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CLI = [sys.executable, "-m", "jejakekal.cli.main", "drill"]
DRILLS = {
    "crash": ["crash"],
    "chaos": ["chaos"],
    "soak": ["soak", "--n", "2"],
    "sandbox-soak": ["sandbox-soak", "--n", "10"],
    "kill9": ["kill9"],
}


def _drill(
    *args: str, timeout: float = 170, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], Any]:
    done = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, check=False, env=env
    )
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, f"stdout must be one verdict line:\n{done.stdout}\n{done.stderr}"
    return done, json.loads(lines[0])


@pytest.mark.timeout(180)
@pytest.mark.parametrize("drill", DRILLS)
def test_drill_passes_its_oracles(drill: str, database_url: str) -> None:
    done, verdict = _drill(*DRILLS[drill], "--db", database_url)

    failed = {k: v for k, v in verdict["checks"].items() if not v["ok"]}
    assert done.returncode == 0, f"{failed}\n{done.stderr[-3000:]}"
    assert verdict["ok"] is True
    assert verdict["drill"] == drill
    assert verdict["db"] == database_url.split(":", 1)[0]
    assert verdict["checks"] and not failed
    assert verdict["seconds"] > 0
    if drill == "soak":
        assert verdict["rounds"]["n"] == verdict["rounds"]["ok"] == 2
        assert verdict["rounds"]["failed"] == []


def test_a_drill_that_cannot_run_fails_with_a_verdict_and_a_nonzero_exit(tmp_path: Path) -> None:
    # Its own temporary folder: a failed drill keeps its home there for forensics.
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    unreachable = "postgresql://nobody@127.0.0.1:1/none"
    done, verdict = _drill("crash", "--db", unreachable, timeout=60, env=env)

    assert done.returncode == 1
    assert verdict["ok"] is False
    assert verdict["checks"]["completed"]["ok"] is False
    assert "error: drill crash failed: completed" in done.stderr
    kept = Path(verdict["home"])
    assert kept.parent == tmp_path and list(kept.glob("api-*.log"))
