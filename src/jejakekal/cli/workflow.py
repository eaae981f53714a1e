"""`jejakekal workflow`: the `dbos workflow` CLI on the configured database.

Each command makes the same `DBOSClient` call as its `dbos workflow` twin and prints
the same JSON through DBOS's own encoder, so the two outputs compare equal. The
differences are deliberate: an unknown workflow id is an error here (DBOS prints `[]`
for its steps and cancels nothing in silence), and `cancel`/`resume`, silent in DBOS,
print the status they leave behind.

DBOS is imported inside the commands: `jejakekal --help` must not pay for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from jejakekal.cli.output import fail
from jejakekal.config import load_settings

if TYPE_CHECKING:
    from dbos import DBOSClient

workflow_app = typer.Typer(
    help=(
        "DBOS workflow management, as the `dbos workflow` CLI does it, on the configured database."
    ),
    no_args_is_help=True,
)

WorkflowId = Annotated[str, typer.Argument(help="The DBOS workflow id (an intent run's id).")]
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
def _client(db: str | None) -> Iterator[DBOSClient]:
    """A client on the product's engine, reading inputs and outputs as portable JSON."""
    import logging

    from dbos import DBOSClient
    from dbos._serialization import DBOSPortableJSON

    from jejakekal.storage.engine import create_engine, is_sqlite, sqlite_path

    # DBOS logs a failed connection before raising it; the one-line `fail` says it all.
    logging.getLogger("dbos").setLevel(logging.CRITICAL)
    url = db or load_settings().resolved_database_url
    if is_sqlite(url) and not sqlite_path(url).is_file():
        fail(f"no database at {sqlite_path(url)}")
    # A bad URL or an unreachable server fails here, in the database's own words.
    try:
        engine = create_engine(url, pool_size=1)
    except Exception as exc:
        _fail_from(exc, "cannot open the database: ")
    try:
        client = DBOSClient(system_database_engine=engine, serializer=DBOSPortableJSON)
    except Exception as exc:
        engine.dispose()
        _fail_from(exc, "cannot open the database: ")
    try:
        yield client
    finally:
        client.destroy()
        engine.dispose()


def _call(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except Exception as exc:  # DBOS's and the database's messages are the useful ones
        _fail_from(exc)


def _fail_from(exc: BaseException, context: str = "") -> NoReturn:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    fail(f"{context}{first}")


def _print_json(value: Any) -> None:
    import json

    # The encoder `dbos workflow` renders with (str() for datetimes, errors, ...).
    from dbos.cli.cli import DefaultEncoder

    typer.echo(json.dumps(value, cls=DefaultEncoder))


def _status(client: DBOSClient, workflow_id: str) -> Any:
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
            lambda: client.list_workflows(
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
        status = _status(client, workflow_id)
    _print_json(status.__dict__)


@workflow_app.command("steps")
def steps(workflow_id: WorkflowId, db: DbOpt = None) -> None:
    """Print a workflow's recorded steps as JSON (`dbos workflow steps`)."""
    with _client(db) as client:
        _status(client, workflow_id)
        recorded = _call(lambda: client.list_workflow_steps(workflow_id))
    _print_json(recorded)


@workflow_app.command("cancel")
def cancel(workflow_id: WorkflowId, db: DbOpt = None) -> None:
    """Cancel a workflow so it is no longer retried or recovered (`dbos workflow cancel`)."""
    with _client(db) as client:
        _status(client, workflow_id)
        _call(lambda: client.cancel_workflow(workflow_id))
        after = _status(client, workflow_id).status
    if after == "CANCELLED":
        typer.echo(f"cancelled workflow {workflow_id}")
    else:
        typer.echo(f"workflow {workflow_id} is {after}: a finished workflow stays as it is")


@workflow_app.command("resume")
def resume(workflow_id: WorkflowId, db: DbOpt = None) -> None:
    """Resume a cancelled workflow; recorded steps replay (`dbos workflow resume`)."""
    with _client(db) as client:
        _call(lambda: client.resume_workflow(workflow_id))
        after = _status(client, workflow_id).status
    if after in ("SUCCESS", "ERROR"):
        typer.echo(f"workflow {workflow_id} is {after}: a finished workflow stays as it is")
    else:
        typer.echo(f"resumed workflow {workflow_id} ({after})")
