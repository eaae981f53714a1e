"""A drill's verdict: named oracle checks, and the one JSON line it prints."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Checks:
    """Oracle outcomes by name: what was expected, what the database held, whether they agree."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    def expect(self, name: str, actual: Any, expected: Any) -> bool:
        return self.record(name, actual == expected, actual=actual, expected=expected)

    def record(self, name: str, ok: bool, *, actual: Any, expected: Any) -> bool:
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
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.checks.ok

    def as_dict(self) -> dict[str, Any]:
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
