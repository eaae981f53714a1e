"""`bench check`: the latest results against `budgets.json` (README, "Current figures").

Budgets only ever tighten: each may not exceed the courses' cap. A result over its
budget fails the check; so does a bench this build has but that has no result yet.
The file's top-level figures are SQLite's (the embedded default); its `postgresql`
object holds PostgreSQL's figures that differ, the others being the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The courses' caps: a budget may be tighter, never looser.
COURSE_CAPS = {
    "ingest_p50_ms": 50,
    "ingest_p95_ms": 120,
    "query_p50_ms": 20,
    "query_p95_ms": 70,
    # Issue 24: a search alone, which the mixed query figure hid; held to the query caps.
    "search_p50_ms": 20,
    "search_p95_ms": 70,
    # Issue 24: uploaded PDFs to `done` (the courses have none: our first ceilings).
    "ingest_pdf_ms_per_page": 50,
    "ingest_ocr_ms_per_page": 2000,
    "ui_load_ms": 500,
    "resume_latency_ms": 80,
    # Issue 20: long polls may not starve the API (200 waiters, `bench longpoll`).
    "longpoll_healthz_p99_ms": 50,
    "longpoll_extra_cpu_cores": 0.1,
}
# budget key -> (bench, result field; a dot reaches into a nested figure). Budgets of
# benches not built yet are reported, not run.
SOURCES = {
    "ingest_p50_ms": ("ingest", "p50_ms"),
    "ingest_p95_ms": ("ingest", "p95_ms"),
    "ingest_pdf_ms_per_page": ("ingest", "pdf.ms_per_page"),
    "ingest_ocr_ms_per_page": ("ingest", "ocr.ms_per_page"),
    "query_p50_ms": ("query", "p50_ms"),
    "query_p95_ms": ("query", "p95_ms"),
    "search_p50_ms": ("query", "search.p50_ms"),
    "search_p95_ms": ("query", "search.p95_ms"),
    "ui_load_ms": ("ui", "p50_ms"),
    "resume_latency_ms": ("resume", "p50_ms"),
    "longpoll_healthz_p99_ms": ("longpoll", "healthz_p99_ms"),
    "longpoll_extra_cpu_cores": ("longpoll", "extra_cpu_cores"),
}
BUILT = {"ingest", "longpoll", "query", "resume", "ui"}
# The backends as results name them (`storage.engine.db_kind`); SQLite's budgets are the
# file's top level, PostgreSQL's are its `postgresql` object laid over them.
BACKENDS = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Verdict:
    key: str
    budget: float
    measured: float | None
    state: str  # ok | over | missing | not built | looser than the course cap
    db: str = "sqlite"

    @property
    def failed(self) -> bool:
        return self.state in ("over", "missing", "looser than the course cap")

    @property
    def bench(self) -> str:
        return SOURCES[self.key][0]


def load_budgets(path: Path) -> dict[str, float]:
    """SQLite's budgets: the file's top-level figures."""
    return load_backend_budgets(path)["sqlite"]


def load_backend_budgets(path: Path) -> dict[str, dict[str, float]]:
    """Each backend's budgets; PostgreSQL's default to SQLite's where the file is silent."""
    raw: dict[str, Any] = json.loads(path.read_text())
    sqlite = {k: float(v) for k, v in raw.items() if k not in BACKENDS}
    postgresql = {k: float(v) for k, v in raw.get("postgresql", {}).items()}
    unknown = sorted(set(postgresql) - set(sqlite))
    if unknown:
        raise ValueError(f"{path}: postgresql budgets without a SQLite one: {', '.join(unknown)}")
    return {"sqlite": sqlite, "postgresql": {**sqlite, **postgresql}}


def check(budgets: dict[str, float], results_dir: Path, db: str = "sqlite") -> list[Verdict]:
    """Each budget against the latest result of `db` in `results_dir`."""
    verdicts = []
    for key, budget in sorted(budgets.items()):
        bench, field = SOURCES[key]
        if budget > COURSE_CAPS[key]:
            verdicts.append(Verdict(key, budget, None, "looser than the course cap", db))
            continue
        if bench not in BUILT:
            verdicts.append(Verdict(key, budget, None, "not built", db))
            continue
        measured = _measured(results_dir / f"{bench}.json", field, db)
        if measured is None:
            verdicts.append(Verdict(key, budget, None, "missing", db))
        else:
            state = "ok" if measured <= budget else "over"
            verdicts.append(Verdict(key, budget, measured, state, db))
    return verdicts


def recorded_backends(results_dir: Path) -> list[str]:
    """The backends some result in `results_dir` was measured on, in BACKENDS' order: a
    course's SQLite-only benches are judged on SQLite alone."""
    seen: set[str] = set()
    for path in sorted(results_dir.glob("*.json")):
        try:
            payload = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        results = payload.get("results", []) if isinstance(payload, dict) else []
        seen.update(str(r.get("db")) for r in results if isinstance(r, dict))
    return [db for db in BACKENDS if db in seen]


def command_for(bench: str, db: str) -> str:
    """The command that records `bench`'s result for `db` (a missing result's remedy)."""
    return f"jejakekal bench {bench}" + ("" if db == "sqlite" else " --db postgresql://...")


def _measured(path: Path, field: str, db: str) -> float | None:
    if not path.exists():
        return None
    payload: dict[str, Any] = json.loads(path.read_text())
    for result in payload.get("results", []):
        if result.get("db") == db:
            value: Any = result
            for part in field.split("."):
                value = value[part]
            return float(value)
    return None
