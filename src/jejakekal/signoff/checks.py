"""What signoff checks, in order, and how each is judged.

Every check runs `jejakekal` commands as child processes with a time limit, on scratch
homes and databases: signoff never touches the operator's home or database. Names are
`kind/what[/backend]`, so `--only drill` or `--only bench/postgresql` picks some.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from jejakekal.config import Settings, load_settings
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.processes import process_env
from jejakekal.signoff.bundle import verify_fresh_bundle
from jejakekal.signoff.commands import Ran, run_cli
from jejakekal.signoff.postgres import Databases, PostgresUnavailable
from jejakekal.signoff.verdict import CheckResult, NotRun

BACKENDS = ("sqlite", "postgresql")
# The drills in the bounded form `make test` runs them (README, "Drills").
DRILLS: dict[str, tuple[str, ...]] = {
    "crash": ("crash",),
    "chaos": ("chaos",),
    "soak": ("soak", "--n", "2"),
    "sandbox-soak": ("sandbox-soak", "--n", "10"),
    "kill9": ("kill9",),
}
# Each budgeted bench, small enough for a minute per backend; figures of record come from
# the full commands (`--benches recorded` judges those).
QUICK_BENCHES: tuple[tuple[str, ...], ...] = (
    ("ingest", "--runs", "20"),
    ("query", "--samples", "100", "--seed-runs", "1000", "--seed-chunks", "10000"),
    ("resume", "--runs", "10"),
    ("ui", "--runs", "10"),
    ("longpoll", "--seconds", "2"),
)
DRILL_SEC = 180.0
GOLDEN_SEC = 300.0
BENCH_SEC = 300.0
SHORT_SEC = 90.0
Outcome = tuple[bool, JsonObject]


@dataclass(frozen=True)
class Options:
    backends: tuple[str, ...]
    golden_dir: Path
    budgets: Path
    benches: str  # quick: run them here | recorded: judge .cache/bench of `cwd`
    cwd: Path


class Context:
    """What every check shares: the options, a scratch folder, the children's environment
    (a scratch home and SQLite file) and the PostgreSQL databases."""

    def __init__(self, options: Options, scratch: Path, postgres: Databases) -> None:
        self.options = options
        self.scratch = scratch
        self.postgres = postgres
        self.env = process_env(
            f"sqlite:///{scratch / 'home' / 'jejakekal.sqlite'}", scratch / "home"
        )

    def run(
        self,
        args: list[str],
        timeout: float,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> Ran:
        return run_cli(args, env or self.env, cwd or self.scratch, timeout)

    def db_args(self, backend: str, label: str) -> list[str]:
        """`--db URL` of a fresh PostgreSQL database; none on SQLite (each command makes
        its own scratch file)."""
        return [] if backend == "sqlite" else ["--db", self.postgres.fresh(label)]


@dataclass(frozen=True)
class Check:
    name: str
    body: Callable[[Context], Outcome]


def plan(options: Options, settings: Settings) -> tuple[list[Check], list[NotRun]]:
    checks = [Check("smoke/sbx", _smoke_sbx)]
    not_run = []
    if _openai_configured(settings):
        checks.append(Check("smoke/oc", _smoke_oc))
    else:
        why = "no OpenAI-compatible endpoint configured (JEJAKEKAL_OPENAI_BASE_URL or _API_KEY)"
        not_run.append(NotRun("smoke/oc", why))
    if "sqlite" in options.backends:
        checks.append(
            Check("bundle/sqlite", lambda ctx: verify_fresh_bundle(ctx.run, ctx.env, ctx.scratch))
        )
    for backend in options.backends:
        checks.append(Check(f"golden/{backend}", _golden(backend)))
        checks += [Check(f"drill/{d}/{backend}", _drill(d, backend)) for d in DRILLS]
        checks.append(Check(f"bench/{backend}", _bench(backend)))
    return checks, not_run


def chosen(name: str, only: list[str]) -> bool:
    """Whether `only` (names, or prefixes ending at a `/`) picks the check `name`; an empty
    `only` picks every check."""
    return not only or any(name == o or name.startswith(o.rstrip("/") + "/") for o in only)


def run_check(check: Check, ctx: Context) -> CheckResult:
    """One check to its verdict: a check that raises fails with the error as evidence."""
    started = time.monotonic()
    try:
        ok, evidence = check.body(ctx)
    except PostgresUnavailable as exc:
        ok, evidence = False, {"error": str(exc)}
    except Exception as exc:  # a signoff names every failure instead of stopping at one
        ok, evidence = False, {"error": f"{type(exc).__name__}: {exc}"}
    return CheckResult(check.name, ok, evidence, time.monotonic() - started)


def _openai_configured(settings: Settings) -> bool:
    default = load_settings({})
    return (
        settings.openai_api_key is not None or settings.openai_base_url != default.openai_base_url
    )


def _smoke_sbx(ctx: Context) -> Outcome:
    # Isolation is required: foreign commands run only under bubblewrap (README).
    ran = ctx.run(["smoke", "sbx", "--require-isolated"], SHORT_SEC)
    return ran.ok, {**ran.evidence(), "verdict": ran.json_line()}


def _smoke_oc(ctx: Context) -> Outcome:
    ran = ctx.run(["smoke", "oc", "--timeout", "60"], SHORT_SEC + 60)
    return ran.ok, {**ran.evidence(), "verdict": ran.json_line()}


def _golden(backend: str) -> Callable[[Context], Outcome]:
    def body(ctx: Context) -> Outcome:
        folder = (ctx.options.cwd / ctx.options.golden_dir).resolve()
        ran = ctx.run(
            ["golden", "diff", "--dir", str(folder), *ctx.db_args(backend, "golden")], GOLDEN_SEC
        )
        evidence = {**ran.evidence(), "dir": str(folder)}
        if not ran.ok:
            evidence["diff_head"] = [line.rstrip("\n") for line in ran.stdout.splitlines()[:40]]
        return ran.ok, evidence

    return body


def _drill(drill: str, backend: str) -> Callable[[Context], Outcome]:
    def body(ctx: Context) -> Outcome:
        ran = ctx.run(["drill", *DRILLS[drill], *ctx.db_args(backend, drill)], DRILL_SEC)
        verdict = ran.json_line()
        return ran.ok and verdict is not None, {**ran.evidence(), "verdict": verdict}

    return body


def _bench(backend: str) -> Callable[[Context], Outcome]:
    def body(ctx: Context) -> Outcome:
        budgets = str((ctx.options.cwd / ctx.options.budgets).resolve())
        judge = ["bench", "check", "--budgets", budgets, "--backend", backend, "--json"]
        if ctx.options.benches == "recorded":
            ran = ctx.run(judge, SHORT_SEC, cwd=ctx.options.cwd)
            return ran.ok, {"results": "recorded", **ran.evidence(), "check": ran.json_line()}
        # Quick: measured now, in a folder of their own (`.cache/bench` stays the operator's).
        folder = ctx.scratch / f"bench-{backend}"
        folder.mkdir()
        benches = [
            ctx.run(["bench", *bench, *ctx.db_args(backend, bench[0])], BENCH_SEC, cwd=folder)
            for bench in QUICK_BENCHES
        ]
        ran = ctx.run(judge, SHORT_SEC, cwd=folder)
        evidence: JsonObject = {
            "results": "quick",
            "benches": [b.evidence() for b in benches],
            **ran.evidence(),
            "check": ran.json_line(),
        }
        return ran.ok and all(b.ok for b in benches), evidence

    return body
