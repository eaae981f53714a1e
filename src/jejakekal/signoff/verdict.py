"""Signoff's verdict: each check with its evidence, the failed ones named, and the build
it judged (version, commit), as one JSON document in `.cache/signoff.json`."""

from __future__ import annotations

import json
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jejakekal
from jejakekal.domain.jsontypes import JsonObject


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    evidence: JsonObject
    seconds: float

    def to_json(self) -> JsonObject:
        return {
            "name": self.name,
            "ok": self.ok,
            "evidence": self.evidence,
            "seconds": round(self.seconds, 1),
        }


@dataclass(frozen=True)
class NotRun:
    """A check this signoff left out, and why (said in the verdict, never silently)."""

    name: str
    why: str


def build_verdict(
    results: list[CheckResult],
    not_run: list[NotRun],
    only: list[str],
    build: JsonObject,
    seconds: float,
) -> JsonObject:
    failed = [r.name for r in results if not r.ok]
    return {
        # No check run is no signoff: an `--only` that matched nothing fails.
        "ok": bool(results) and not failed,
        "failed": failed,
        "checks": [r.to_json() for r in results],
        "not_run": [{"name": n.name, "why": n.why} for n in not_run],
        # A signoff restricted by --only is not the whole one; the verdict says so.
        "complete": not only,
        "only": only,
        "seconds": round(seconds, 1),
        **build,
    }


def build_info() -> JsonObject:
    """What was judged: the package version and, when it runs from a git checkout (an
    editable install), that checkout's commit and whether it has uncommitted changes."""
    cwd = Path(jejakekal.__file__).parent
    return {
        "version": jejakekal.__version__,
        "commit": _git(cwd, "rev-parse", "HEAD"),
        "dirty": None if (status := _git(cwd, "status", "--porcelain")) is None else bool(status),
        "python": platform.python_version(),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_verdict(path: Path, verdict: JsonObject) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(verdict, indent=2, sort_keys=True) + "\n")
    return path


def _git(cwd: Path, *args: str) -> str | None:
    """Git's answer, or None outside a checkout (an installed package) or without git."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
