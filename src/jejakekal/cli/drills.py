"""`jejakekal drill ...`: durability drills with SQL oracles (README, "Drills").

Progress goes to stderr; stdout carries one JSON verdict line; the exit code is
non-zero when any oracle failed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from jejakekal.config import check_database_url, load_settings

if TYPE_CHECKING:
    from jejakekal.drills.verdict import Verdict

drill_app = typer.Typer(
    help="Durability drills with SQL oracles (README, Drills).", no_args_is_help=True
)

DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (e.g. postgresql://...); default a scratch SQLite."),
]


def _checked(db: str | None) -> str | None:
    # Only the URL's form: an unreachable database is a drill that cannot run, which
    # answers with a failed verdict like any other failure.
    return check_database_url(db, "--db") if db else None


def _finish(verdict: Verdict) -> None:
    typer.echo(verdict.to_json())
    if not verdict.ok:
        failed = ", ".join(verdict.checks.failed)
        typer.echo(f"error: drill {verdict.drill} failed: {failed}", err=True)
        raise typer.Exit(1)


@drill_app.command("crash")
def crash(db: DbOpt = None) -> None:
    """Kill the process between steps s1 and s2 of `crash_drill`; expect SUCCESS, one mark each."""
    from jejakekal.drills.crash import crash as run

    _finish(run(load_settings(), _checked(db)))


@drill_app.command("chaos")
def chaos(db: DbOpt = None) -> None:
    """SIGKILL the worker during ExecuteST of an intent run; expect succeeded, attempt=1."""
    from jejakekal.drills.intents import chaos as run

    _finish(run(load_settings(), _checked(db)))


@drill_app.command("soak")
def soak(
    n: Annotated[int, typer.Option("--n", min=1, help="Chaos rounds.")] = 20,
    db: DbOpt = None,
) -> None:
    """N chaos rounds on one database; one verdict summarising the rounds."""
    from jejakekal.drills.intents import soak as run

    _finish(run(load_settings(), _checked(db), n))


@drill_app.command("sandbox-soak")
def sandbox_soak(
    n: Annotated[
        int, typer.Option("--n", min=1, max=500, help="Parallel sandbox tasks (recipe cap 500).")
    ] = 100,
    db: DbOpt = None,
) -> None:
    """One intent run of N sandbox nodes (20 at a time); expect all done, no duplicates."""
    from jejakekal.drills.intents import sandbox_soak as run

    _finish(run(load_settings(), _checked(db), n))


@drill_app.command("kill9")
def kill9(db: DbOpt = None) -> None:
    """SIGKILL the API process while a document run sleeps; expect each step once, done."""
    from jejakekal.drills.crash import kill9 as run

    _finish(run(load_settings(), _checked(db)))
