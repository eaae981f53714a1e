"""`jejakekal signoff`: every bounded check of a release, one JSON verdict (README, "Signoff").

Progress and one line per finished check go to the terminal; the verdict goes to
`.cache/signoff.json` (or `--out`); the exit code is 1 when any check failed, and the
last line names them.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from jejakekal.cli.output import fail
from jejakekal.config import check_database_url, load_settings

if TYPE_CHECKING:
    from jejakekal.domain.jsontypes import JsonObject
    from jejakekal.signoff.checks import Check, Options
    from jejakekal.signoff.verdict import CheckResult, NotRun

BACKEND_CHOICES = ("sqlite", "postgresql")


def signoff(
    only: Annotated[
        list[str] | None,
        typer.Option(
            help="Run only these checks: a name or a prefix (drill, bench/postgresql); "
            "repeatable. The verdict records that it is partial."
        ),
    ] = None,
    backend: Annotated[
        list[str] | None,
        typer.Option(help="sqlite or postgresql (repeat for both); default both."),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="A PostgreSQL server where signoff may create (and drop) its databases; "
            "default: a throwaway server started from the PostgreSQL binaries.",
        ),
    ] = None,
    benches: Annotated[
        str,
        typer.Option(
            help="quick: run small benches now, in a scratch folder; recorded: judge the "
            "results in .cache/bench (a missing one names the bench to run)."
        ),
    ] = "quick",
    golden_dir: Annotated[
        Path, typer.Option("--golden-dir", help="The recorded golden snapshots.")
    ] = Path("tests/golden"),
    budgets: Annotated[Path, typer.Option(help="The budgets file.")] = Path("budgets.json"),
    out: Annotated[Path, typer.Option(help="Where the JSON verdict goes.")] = Path(
        ".cache/signoff.json"
    ),
    list_only: Annotated[
        bool, typer.Option("--list", help="Print the checks' names and run none.")
    ] = False,
) -> None:
    """Run the bounded drills, golden diff, bench check and the smoke commands on both
    backends, and verify a fresh run's bundle offline; write one JSON verdict and exit 1
    naming the failed checks."""
    from jejakekal.signoff.checks import Options, chosen, plan

    backends = tuple(backend or BACKEND_CHOICES)
    unknown = sorted(set(backends) - set(BACKEND_CHOICES))
    if unknown:
        fail(f"--backend must be sqlite or postgresql, not {', '.join(unknown)}")
    if database_url and check_database_url(database_url, "--database-url").startswith("sqlite"):
        fail("--database-url names the PostgreSQL server for the postgresql checks")
    if benches not in ("quick", "recorded"):
        fail(f"--benches must be quick or recorded, not {benches!r}")
    options = Options(backends, golden_dir, budgets, benches, Path.cwd())
    checks, not_run = plan(options, load_settings())
    picked = [c for c in checks if chosen(c.name, only or [])]
    not_run = [n for n in not_run if chosen(n.name, only or [])]
    if list_only:
        typer.echo(
            "\n".join([c.name for c in checks] + [f"{n.name} (not run: {n.why})" for n in not_run])
        )
        return
    if not picked:
        fail(f"--only {' '.join(only or [])} names no check; `jejakekal signoff --list` names them")
    _run(options, picked, not_run, only or [], database_url, out)


def _run(
    options: Options,
    checks: list[Check],
    not_run: list[NotRun],
    only: list[str],
    database_url: str | None,
    out: Path,
) -> None:
    from jejakekal.signoff.checks import Context, run_check
    from jejakekal.signoff.postgres import Databases
    from jejakekal.signoff.verdict import build_info, build_verdict, write_verdict

    console = Console()
    started = time.monotonic()
    results: list[CheckResult] = []
    postgres = Databases(database_url)
    with (
        tempfile.TemporaryDirectory(prefix="jejakekal-signoff-", ignore_cleanup_errors=True) as f,
        contextlib.closing(postgres),
        Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
        ) as progress,
    ):
        context = Context(options, Path(f), postgres)
        overall = progress.add_task(f"signoff: 0/{len(checks)}", total=len(checks))
        for n, check in enumerate(checks, start=1):
            task = progress.add_task(check.name, total=None)
            result = run_check(check, context)
            progress.remove_task(task)
            results.append(result)
            progress.console.print(_line(result))
            progress.update(overall, advance=1, description=f"signoff: {n}/{len(checks)}")
    for skipped in not_run:
        console.print(f"[yellow]-[/] {skipped.name} not run: {skipped.why}")
    verdict = build_verdict(results, not_run, only, build_info(), time.monotonic() - started)
    written = write_verdict(out, verdict)
    console.print(f"verdict written to {written} ({verdict['seconds']} s)")
    failed = [r.name for r in results if not r.ok]
    if failed:
        fail(f"signoff failed: {', '.join(failed)}")
    console.print(
        f"signoff passed: {len(results)} checks" + ("" if not only else " (partial: --only)")
    )


def _line(result: CheckResult) -> str:
    mark = "[green]ok[/]  " if result.ok else "[red]FAIL[/]"
    why = "" if result.ok else f": {_reason(result.evidence)}"
    return f"{mark} {result.name} ({result.seconds:.1f} s){why}"


def _reason(evidence: JsonObject) -> str:
    """The first thing that says why a check failed, on one line."""
    for key in ("error", "stderr_tail"):
        value = evidence.get(key)
        if isinstance(value, list) and value:
            return str(value[-1])
        if isinstance(value, str):
            return value
    for nested in evidence.values():
        if isinstance(nested, dict) and (said := _reason(nested)) != "see the verdict":
            return said
    return "see the verdict"
