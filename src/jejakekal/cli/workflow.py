"""`jejakekal workflow`: the `dbos workflow` CLI on the configured database.

Each command makes the same `DBOSClient` call as its `dbos workflow` twin and prints
the same JSON through DBOS's own encoder, so the two outputs compare equal. The
differences are deliberate: an unknown workflow id is an error here (DBOS prints `[]`
for its steps and cancels nothing in silence), `cancel`/`resume`, silent in DBOS,
print the status they leave behind, and a run id (`run-...`) names its workflow.

DBOS is imported inside the commands: `jejakekal --help` must not pay for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer

from jejakekal.cli.databases import existing_database, opened_client
from jejakekal.cli.output import fail, login_name, one_line
from jejakekal.config import load_settings

if TYPE_CHECKING:
    from dbos import DBOSClient, WorkflowStatus

    from jejakekal.control import Control
    from jejakekal.domain.audit import Who
    from jejakekal.storage.database import Database

workflow_app = typer.Typer(
    help=(
        "DBOS workflow management, as the `dbos workflow` CLI does it, on the configured database."
    ),
    no_args_is_help=True,
)

WorkflowId = Annotated[
    str,
    typer.Argument(
        help="A workflow id (an intent's id), or the id of the run it executes (run-...)."
    ),
]
ActorOpt = Annotated[
    str | None,
    typer.Option("--actor", help="Who acts, for the audit; default the login name."),
]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why, for the audit.")]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        "--sys-db-url",
        "-s",
        help="Database URL; default the configured one (JEJAKEKAL_DATABASE_URL).",
    ),
]


@contextmanager
def _client(db: str | None) -> Iterator[_Client]:
    """A client on the product's engine, reading inputs and outputs as portable JSON."""
    if db:
        url = existing_database(db)
    else:
        url = existing_database(load_settings().resolved_database_url, "the database URL")
    with opened_client(url) as (database, client):
        yield _Client(client, database)


class _Client:
    """DBOS's client, and the product's database: to resolve a run id to its workflow
    id, and to act on a run as an operator (audited) through the product's use cases."""

    def __init__(self, dbos: DBOSClient, database: Database) -> None:
        self.dbos = dbos
        self._database = database

    def operator(
        self, action: Callable[[Control, Who], T], actor: str | None, reason: str | None
    ) -> T:
        """Run a use case as the CLI's operator; a refusal is one line."""
        return _call(lambda: self._act(action, actor, reason))

    def try_operator(
        self, action: Callable[[Control, Who], object], actor: str | None, reason: str | None
    ) -> bool:
        """As `operator`, for a cancel or a resume of a run: False when the run refuses
        (a finished run), and the `dbos workflow` twin then answers as DBOS does."""
        from jejakekal.domain import errors

        try:
            self._act(action, actor, reason)
        except errors.Conflict:
            return False
        except Exception as exc:
            _fail_from(exc)
        return True

    def _act(self, action: Callable[[Control, Who], T], actor: str | None, reason: str | None) -> T:
        from jejakekal.control import Control
        from jejakekal.domain.audit import Who, parse_reason
        from jejakekal.domain.gates import Origin, parse_actor

        who = Who(
            parse_actor(actor or login_name(), "--actor"),
            Origin.CLI,
            parse_reason(reason, "--reason"),
        )
        return action(Control(load_settings(), self._database, self.dbos), who)

    def is_run(self, run_or_workflow_id: str) -> bool:
        from jejakekal.storage.runs import find_run

        with self._database.read() as tx:
            return find_run(tx, run_or_workflow_id) is not None

    def workflow_id(self, run_or_workflow_id: str) -> str:
        from jejakekal.storage.console import workflow_id_for

        return str(_call(lambda: workflow_id_for(self._database, run_or_workflow_id)))


T = TypeVar("T")


def _call(action: Callable[[], T]) -> T:
    try:
        return action()
    except Exception as exc:  # DBOS's and the database's messages are the useful ones
        _fail_from(exc)


def _fail_from(exc: BaseException, context: str = "") -> NoReturn:
    fail(f"{context}{one_line(exc)}")


def _print_json(value: object) -> None:
    import json

    # The encoder `dbos workflow` renders with (str() for datetimes, errors, ...).
    from dbos.cli.cli import DefaultEncoder

    typer.echo(json.dumps(value, cls=DefaultEncoder))


def _status(client: DBOSClient, workflow_id: str) -> WorkflowStatus:
    """The workflow's status, failing on an unknown id."""
    return _call(lambda: client.retrieve_workflow(workflow_id).get_status())


@workflow_app.command("list")
def list_workflows(
    db: DbOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-l", help="Most workflows to list.")] = 10,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Run by this user.")] = None,
    start_time: Annotated[
        str | None, typer.Option("--start-time", "-t", help="Started after (ISO 8601).")
    ] = None,
    end_time: Annotated[
        str | None, typer.Option("--end-time", "-e", help="Started before (ISO 8601).")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            "-S",
            help="PENDING, SUCCESS, ERROR, ENQUEUED, DELAYED, CANCELLED or "
            "MAX_RECOVERY_ATTEMPTS_EXCEEDED.",
        ),
    ] = None,
    application_version: Annotated[
        str | None, typer.Option("--application-version", "-v", help="Of this app version.")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Workflow name, e.g. run_intent.")
    ] = None,
    application_name: Annotated[
        str | None, typer.Option("--application-name", "-a", help="Owned by this application.")
    ] = None,
    sort_desc: Annotated[
        bool, typer.Option("--sort-desc", "-d", help="Newest first (default oldest first).")
    ] = False,
    offset: Annotated[int | None, typer.Option("--offset", "-o", help="Skip this many.")] = None,
) -> None:
    """List workflows as JSON, oldest first (`dbos workflow list`)."""
    with _client(db) as client:
        workflows = _call(
            lambda: client.dbos.list_workflows(
                limit=limit,
                offset=offset,
                sort_desc=sort_desc,
                user=user,
                start_time=start_time,
                end_time=end_time,
                status=status,
                app_version=application_version,
                name=name,
                application_name=application_name,
            )
        )
    _print_json([w.__dict__ for w in workflows])


@workflow_app.command("get")
def get(workflow_id: WorkflowId, db: DbOpt = None) -> None:
    """Print a workflow's status as JSON (`dbos workflow get`)."""
    with _client(db) as client:
        status = _status(client.dbos, client.workflow_id(workflow_id))
    _print_json(status.__dict__)


@workflow_app.command("steps")
def steps(workflow_id: WorkflowId, db: DbOpt = None) -> None:
    """Print a workflow's recorded steps as JSON (`dbos workflow steps`)."""
    with _client(db) as client:
        workflow_id = client.workflow_id(workflow_id)
        _status(client.dbos, workflow_id)
        recorded = _call(lambda: client.dbos.list_workflow_steps(workflow_id))
    _print_json(recorded)


@workflow_app.command("cancel")
def cancel(
    workflow_id: WorkflowId, db: DbOpt = None, actor: ActorOpt = None, reason: ReasonOpt = None
) -> None:
    """Cancel a workflow so it is no longer retried or recovered (`dbos workflow cancel`).
    A run's cancel is audited, with --actor and --reason."""
    with _client(db) as client:
        workflow_id = client.workflow_id(workflow_id)
        _status(client.dbos, workflow_id)
        audited = client.is_run(workflow_id) and client.try_operator(
            lambda control, who: control.cancel_run(workflow_id, who), actor, reason
        )
        if not audited:
            _call(lambda: client.dbos.cancel_workflow(workflow_id))
        after = _status(client.dbos, workflow_id).status
    if after == "CANCELLED":
        typer.echo(f"cancelled workflow {workflow_id}")
    else:
        typer.echo(f"workflow {workflow_id} is {after}: a finished workflow stays as it is")


@workflow_app.command("resume")
def resume(
    workflow_id: WorkflowId, db: DbOpt = None, actor: ActorOpt = None, reason: ReasonOpt = None
) -> None:
    """Resume a cancelled workflow; recorded steps replay (`dbos workflow resume`).
    A run's resume is audited, with --actor and --reason."""
    with _client(db) as client:
        workflow_id = client.workflow_id(workflow_id)
        audited = client.is_run(workflow_id) and client.try_operator(
            lambda control, who: control.resume_run(workflow_id, who), actor, reason
        )
        if not audited:
            _call(lambda: client.dbos.resume_workflow(workflow_id))
        after = _status(client.dbos, workflow_id).status
    if after in ("SUCCESS", "ERROR"):
        typer.echo(f"workflow {workflow_id} is {after}: a finished workflow stays as it is")
    else:
        typer.echo(f"resumed workflow {workflow_id} ({after})")


@workflow_app.command("fork")
def fork(
    run_id: WorkflowId,
    step: Annotated[
        str,
        typer.Option(
            "--step",
            help="The step to start from, by name (e.g. DecideST, side-effect): the steps "
            "before it are reused from their checkpoints, not run again.",
        ),
    ],
    db: DbOpt = None,
    actor: ActorOpt = None,
    reason: ReasonOpt = None,
) -> None:
    """Start a new run from a stopped run's step (`dbos workflow fork`, by step name) and
    print it as JSON. Audited, with --actor and --reason."""
    with _client(db) as client:
        forked = client.operator(
            lambda control, who: control.fork_run(run_id, step, who), actor, reason
        )
    _print_json(forked.to_json())


@workflow_app.command("batch")
def batch(
    action: Annotated[str, typer.Argument(help="cancel, resume or retry.")],
    status: Annotated[str | None, typer.Option(help="Runs of this status.")] = None,
    kind: Annotated[str | None, typer.Option(help="intent or doc.")] = None,
    recipe: Annotated[str | None, typer.Option(help="Intent runs of this recipe.")] = None,
    created_after: Annotated[
        str | None, typer.Option(help="Created after (ISO 8601, with a zone).")
    ] = None,
    created_before: Annotated[
        str | None, typer.Option(help="Created before (ISO 8601, with a zone).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count the runs.")] = False,
    limit: Annotated[int, typer.Option(help="Most runs acted on by this call (1-500).")] = 100,
    db: DbOpt = None,
    actor: ActorOpt = None,
    reason: ReasonOpt = None,
) -> None:
    """Cancel, resume or retry every run a filter matches, oldest first, at most --limit;
    --dry-run only counts. One audit row per run; prints the result as JSON."""
    from jejakekal.domain import errors
    from jejakekal.domain.batch import BatchRequest
    from jejakekal.domain.contracts import parse_request

    given = {
        "status": status,
        "kind": kind,
        "recipe": recipe,
        "createdAfter": created_after,
        "createdBefore": created_before,
    }
    body = {
        "action": action,
        "filter": {k: v for k, v in given.items() if v is not None},
        "dryRun": dry_run,
        "limit": limit,
        "reason": reason,
    }
    request = _call(lambda: parse_request(BatchRequest, body, errors.InvalidBatch))
    with _client(db) as client:
        done = client.operator(lambda control, who: control.batch(request, who), actor, reason)
    _print_json(done.to_json())
