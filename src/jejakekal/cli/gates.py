"""`jejakekal gates`: the inbox of human gates, and answering one, on the configured
database (README, "Human gates").

No server needs to run: the commands call the same use cases as `GET /gates` and
`POST /runs/{id}/gates/{key}` through a DBOS client on the product's engine, so the
answer, its ledger row and the message that wakes the run commit together, as over HTTP.
Heavy modules are imported inside the commands: `jejakekal --help` must not pay for them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from jejakekal.cli.databases import existing_database, opened_client
from jejakekal.cli.output import describe, fail, print_table
from jejakekal.config import load_settings
from jejakekal.domain.errors import JejakekalError

if TYPE_CHECKING:
    from jejakekal.control import Control
    from jejakekal.domain.views import GateView

gates_app = typer.Typer(
    help=(
        "Human gates across runs: `jejakekal gates` lists the open ones (the inbox), "
        "`jejakekal gates answer RUN_ID KEY ANSWER` answers one. Works on the configured "
        "database without the server running."
    ),
)

# The statuses of `app.gates`, as `GET /gates?status=` takes them.
Status = Literal["open", "answered", "rejected", "timed_out"]

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db", "-s", help="Database URL; default the configured one (JEJAKEKAL_DATABASE_URL)."
    ),
]
StatusOpt = Annotated[
    Status, typer.Option("--status", help="Gates of this status; `open` is the inbox.")
]
LimitOpt = Annotated[
    int, typer.Option("--limit", "-l", min=1, max=500, help="Most gates to list, oldest first.")
]
ListJsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the gates as one JSON list (the API's GateView).")
]


@gates_app.callback(invoke_without_command=True)
def inbox(
    ctx: typer.Context,
    status: StatusOpt = "open",
    limit: LimitOpt = 50,
    as_json: ListJsonOpt = False,
    db: DbOpt = None,
) -> None:
    """The inbox: every open gate across runs, oldest first (same as `gates list`)."""
    if ctx.invoked_subcommand is not None:
        # Options given before a subcommand would be dropped without a word.
        if (status, limit, as_json, db) != ("open", 50, False, None):
            fail(f"put the options after the subcommand: jejakekal gates {ctx.invoked_subcommand}")
        return
    _print_gates(db, status, limit, as_json)


@gates_app.command("list")
def list_gates(
    status: StatusOpt = "open",
    limit: LimitOpt = 50,
    as_json: ListJsonOpt = False,
    db: DbOpt = None,
) -> None:
    """List gates across runs, oldest first (the open ones by default).

    A table of run id, gate key, question, the run's goal, since when the gate waits and
    its deadline (marked when escalated); --json prints the API's GateView list.
    """
    _print_gates(db, status, limit, as_json)


@gates_app.command("answer")
def answer(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run that waits (run-...).")],
    key: Annotated[str, typer.Argument(metavar="KEY", help="The gate's key, e.g. `plan` or `go`.")],
    answer_text: Annotated[
        str,
        typer.Argument(
            metavar="ANSWER",
            help="The answer: a choice (`approve`, `reject`) or text; JSON with --json.",
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Parse ANSWER as JSON (for a json gate).")
    ] = False,
    actor: Annotated[
        str | None,
        typer.Option("--actor", help="Who answers, as the ledger records it; default the OS user."),
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for the ledger.")] = None,
    dedupe_key: Annotated[
        str | None,
        typer.Option(
            "--dedupe-key",
            help="Makes a retried answer safe: the same key and answer print the first "
            'receipt again ("duplicate": true) and write nothing.',
        ),
    ] = None,
    db: DbOpt = None,
) -> None:
    """Answer a run's open gate and print the receipt as JSON (origin `cli`).

    The answer is checked against the gate's schema before anything is written; a
    rejected, late or conflicting answer is one line on stderr and exit code 1.
    """
    from pydantic import ValidationError

    from jejakekal.domain.gates import GateAnswer, Origin, parse_actor, parse_key
    from jejakekal.domain.ids import parse_run_id

    value = _parsed(answer_text) if as_json else answer_text
    try:
        body = GateAnswer(answer=value, dedupeKey=dedupe_key, reason=reason)
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"invalid_answer: {first['loc'][0]}: {first['msg']}")
    with _typed_errors():
        run_id, key = parse_run_id(run_id), parse_key(key)
        who = parse_actor(actor, "--actor") if actor is not None else _os_user()
        with _control(db) as control:
            receipt = control.answer_gate(run_id, key, body, actor=who, origin=Origin.CLI)
    typer.echo(json.dumps(receipt.to_json(), ensure_ascii=False))


def _print_gates(db: str | None, status: Status, limit: int, as_json: bool) -> None:
    with _typed_errors(), _control(db) as control:
        found = control.gate_inbox(status=status, limit=limit, offset=0)
    if as_json:
        typer.echo(json.dumps([gate.to_json() for gate in found], ensure_ascii=False))
    elif not found:
        typer.echo(f"No {status.replace('_', ' ')} gates.")
    else:
        _print_table(found, status)


def _print_table(found: list[GateView], status: Status) -> None:
    closed = status != "open"
    columns = ["run id", "gate", "question", "goal", "opened" if closed else "waiting since"]
    columns += ["deadline", *([status.replace("_", " ")] if closed else [])]
    rows = []
    for gate in found:
        deadline = (gate.deadline_at or "none") + (" (escalated)" if gate.escalated_at else "")
        row = [
            gate.run_id,
            gate.key,
            gate.question,
            gate.goal or "",
            gate.opened_at or "",
            deadline,
        ]
        if closed:
            row.append(
                f"{json.dumps(gate.answer)} by {gate.actor} ({gate.origin}) at {gate.answered_at}"
            )
        rows.append(row)
    print_table(columns, rows)


def _parsed(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError as exc:
        fail(f"ANSWER is not valid JSON ({exc}); without --json it is taken as text")


def _os_user() -> str:
    import getpass

    from jejakekal.domain.gates import parse_actor

    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        fail("cannot tell the OS user; name who answers with --actor NAME")
    return parse_actor(user, "--actor")


@contextmanager
def _typed_errors() -> Iterator[None]:
    """A kernel error as one line with its code, as the API's JSON body carries it."""
    try:
        yield
    except JejakekalError as exc:
        fail(f"{exc.code}: {describe(exc)}")


@contextmanager
def _control(db: str | None) -> Iterator[Control]:
    """The use cases on the product's database, through a DBOS client that reads and
    writes portable JSON as the product's own processes do."""
    from jejakekal.control import Control

    settings = load_settings()
    if db:
        settings = settings.with_overrides(database_url=existing_database(db))
    else:
        existing_database(settings.resolved_database_url, "the database URL")
    with opened_client(settings.resolved_database_url) as (database, client):
        yield Control(settings, database, client)
