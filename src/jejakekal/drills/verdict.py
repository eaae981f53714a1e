"""A drill's verdict: named oracle checks, and the one JSON line it prints."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TypedDict


class Check(TypedDict):
    """One oracle's outcome. The values are whatever the oracle compared, printed as JSON."""

    ok: bool
    expected: object
    actual: object


class RoundSeconds(TypedDict):
    min: float
    median: float
    max: float


class FailedRound(TypedDict):
    round: int
    run_id: str
    checks: list[str]


class Rounds(TypedDict):
    """`drill soak`: the rounds, summarised."""

    n: int
    ok: int
    failed: list[FailedRound]
    seconds: RoundSeconds


class Extra(TypedDict, total=False):
    """Verdict fields beside the checks, each set by the drills that have it."""

    workflow_id: str
    run_id: str
    rounds: Rounds
    home: str  # kept after a failure: the logs and the scratch database


class VerdictLine(Extra):
    drill: str
    ok: bool
    db: str
    checks: dict[str, Check]
    seconds: float


@dataclass
class Checks:
    """Oracle outcomes by name: what was expected, what the database held, whether they agree."""

    results: dict[str, Check] = field(default_factory=dict)

    def expect(self, name: str, actual: object, expected: object) -> bool:
        return self.record(name, actual == expected, actual=actual, expected=expected)

    def record(self, name: str, ok: bool, *, actual: object, expected: object) -> bool:
        self.results[name] = {"ok": bool(ok), "expected": expected, "actual": actual}
        return bool(ok)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r["ok"] for r in self.results.values())

    @property
    def failed(self) -> list[str]:
        return [name for name, r in self.results.items() if not r["ok"]]


@dataclass
class Verdict:
    drill: str
    db: str  # "sqlite" | "postgresql"
    checks: Checks
    seconds: float
    extra: Extra = field(default_factory=lambda: Extra())

    @property
    def ok(self) -> bool:
        return self.checks.ok

    def as_dict(self) -> VerdictLine:
        return {
            "drill": self.drill,
            "ok": self.ok,
            "db": self.db,
            "checks": self.checks.results,
            "seconds": round(self.seconds, 2),
            **self.extra,
        }

    def to_json(self) -> str:
        # One line: a shell can `tail -n1 | jq` it.
        return json.dumps(self.as_dict(), ensure_ascii=False, default=str)
