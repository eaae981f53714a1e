"""The frame every drill runs in: a home, an API process, oracles, a verdict.

The process is stopped in a `finally` whatever happens. A drill that cannot go on
(a timeout, a dead process, an API refusal) fails the `completed` check rather than
raising, so the caller still gets a verdict line.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from jejakekal.config import Settings
from jejakekal.drills.oracles import Oracles
from jejakekal.drills.processes import ApiProcess, DrillEnv, make_env
from jejakekal.drills.report import Reporter
from jejakekal.drills.verdict import Checks, Extra, Verdict


@dataclass
class Drill:
    """What a drill's body works with."""

    env: DrillEnv
    api: ApiProcess
    oracles: Oracles
    checks: Checks
    report: Reporter
    extra: Extra = field(default_factory=lambda: Extra())  # verdict fields beside the checks


def run_drill(
    name: str, settings: Settings, db: str | None, total: int, body: Callable[[Drill], None]
) -> Verdict:
    """Run `body` in a fresh drill frame; `total` sizes the progress bar."""
    started = time.monotonic()
    env = make_env(name, settings, db)
    checks = Checks()
    extra: Extra = {}
    with Reporter(name, total) as report, ApiProcess(env) as api:
        report.note(f"home {env.home}, executor id {env.executor_id}, db {env.db_kind}")
        drill = Drill(env, api, Oracles(env.database_url), checks, report, extra)
        try:
            body(drill)
        except Exception as exc:  # any fault ends the drill; the verdict says which
            reason = f"{type(exc).__name__}: {exc}"
            checks.record("completed", False, actual=reason, expected="the drill runs to the end")
            report.note(f"[red]drill stopped: {reason}")
        else:
            report.finish("ok" if checks.ok else f"failed: {', '.join(checks.failed)}")
    verdict = Verdict(name, env.db_kind, checks, time.monotonic() - started, extra)
    if verdict.ok:
        shutil.rmtree(env.home, ignore_errors=True)
    else:
        # The logs (and the scratch database) are the forensic record of a failure.
        verdict.extra["home"] = str(env.home)
        report.console.print(f"[red]failed checks: {', '.join(checks.failed)}; kept {env.home}")
    return verdict
