"""The `jejakekal` command."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer

from jejakekal.cli.databases import existing_database, given_database
from jejakekal.cli.drills import drill_app
from jejakekal.cli.gates import gates_app
from jejakekal.cli.ingest import ingest
from jejakekal.cli.output import describe, fail, login_name, one_line, print_table
from jejakekal.cli.signoff import signoff
from jejakekal.cli.smoke import smoke_app
from jejakekal.cli.status import status
from jejakekal.cli.verify import verify
from jejakekal.cli.workflow import workflow_app
from jejakekal.config import InvalidSetting, Settings, load_settings
from jejakekal.domain.errors import JejakekalError

app = typer.Typer(
    help="jejakekal: a durable, auditable run kernel. Every command has --help.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database administration.", no_args_is_help=True)
bench_app = typer.Typer(
    help="Benchmarks of the real paths (results in .cache/bench/).", no_args_is_help=True
)
golden_app = typer.Typer(
    help="Golden snapshots of run views and bundles over a fixed corpus.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(bench_app, name="bench")
app.add_typer(golden_app, name="golden")
app.add_typer(drill_app, name="drill")
app.add_typer(workflow_app, name="workflow")
app.add_typer(smoke_app, name="smoke")
app.add_typer(gates_app, name="gates")
app.command("ingest")(ingest)
app.command("signoff")(signoff)
app.command("status")(status)
app.command("verify")(verify)

HostOpt = Annotated[str, typer.Option("--host", help="Bind address; non-loopback needs a token.")]
PortOpt = Annotated[int | None, typer.Option("--port", help="Port (default API_PORT/PORT, 4010).")]


UiPortOpt = Annotated[
    int | None, typer.Option("--ui-port", help="UI port (default UI_PORT, 4110).")
]
ApiUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--api-url", help="The API the UI talks to (default JEJAKEKAL_API_URL, else this API_PORT)."
    ),
]


@app.command()
def serve(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = None,
    ui_port: UiPortOpt = None,
    api_url: ApiUrlOpt = None,
) -> None:
    """Run the product in one process: API, worker and web UI (embedded SQLite by default).

    With UI_EMBED_API=0 only the UI starts, talking to the API at --api-url.
    """
    from jejakekal.cli.serving import run_serve, run_ui

    settings = load_settings()
    if not settings.ui_embed_api:
        url = (api_url or settings.resolved_api_url).rstrip("/")
        run_ui(settings, host, ui_port or settings.ui_port, url)
        return
    _require_reachable(settings)
    run_serve(settings, host, port or settings.api_port, ui_port or settings.ui_port)


@app.command()
def ui(
    api_url: ApiUrlOpt = None,
    host: HostOpt = "127.0.0.1",
    port: Annotated[
        int | None, typer.Option("--port", help="UI port (default UI_PORT, 4110).")
    ] = None,
) -> None:
    """Run the web UI alone, against a `jejakekal api` reached over HTTP."""
    from jejakekal.cli.serving import run_ui

    settings = load_settings()
    url = (api_url or settings.resolved_api_url).rstrip("/")
    run_ui(settings, host, port or settings.ui_port, url)


@app.command()
def api(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = None,
    shim: Annotated[
        bool, typer.Option(help="API only: enqueue and read, run no workflow.")
    ] = False,
) -> None:
    """Run the HTTP API with a worker in the same process (or API only with --shim)."""
    from jejakekal.cli.serving import run_api

    settings = load_settings()
    _require_reachable(settings)
    run_api(settings, "shim" if shim else "full", host, port or settings.api_port)


@app.command()
def worker() -> None:
    """Execute workflows only (no HTTP): dequeue runs, beat, recover dead workers' runs."""
    from jejakekal.cli.serving import run_worker

    settings = load_settings()
    _require_reachable(settings)
    run_worker(settings)


@db_app.command("reset")
def db_reset(
    app_only: Annotated[bool, typer.Option("--app", help="Only the app tables.")] = False,
    sys_only: Annotated[bool, typer.Option("--sys", help="Only DBOS's tables.")] = False,
) -> None:
    """Drop and recreate app tables, DBOS tables, or both; reseed recipes."""
    if app_only and sys_only:
        # Each flag means "only": together they ask for nothing. Both is the default.
        fail("--app and --sys exclude each other: give neither to reset both")
    from jejakekal.bootstrap import prepare_database
    from jejakekal.storage.database import Database
    from jejakekal.storage.migrations import drop_app_tables, drop_dbos_tables

    settings = load_settings()
    _require_reachable(settings)
    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database.open(settings.resolved_database_url, pool_size=1)
    try:
        if not sys_only:
            drop_app_tables(db)
        if not app_only:
            drop_dbos_tables(db)
        prepare_database(settings, db)
    finally:
        db.dispose()
    what = "app tables" if app_only else "DBOS tables" if sys_only else "app and DBOS tables"
    typer.echo(f"reset {what} in {settings.resolved_database_url}; recipes seeded")


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="One SQL statement (read-only by default).")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array of row objects.")] = False,
    write: Annotated[
        bool, typer.Option("--write", help="Allow and commit a write (repairs, tamper drills).")
    ] = False,
) -> None:
    """Run SQL; `app.<table>` and `dbos.<table>` resolve on SQLite and PostgreSQL."""
    from jejakekal.storage.console import run_sql

    settings = load_settings()
    existing_database(settings.resolved_database_url, "the database URL")
    try:
        columns, rows = run_sql(settings.resolved_database_url, query, write=write)
    except Exception as exc:  # the database's own message is the useful one
        hint = "" if write else " (read-only: pass --write to change data)"
        fail(f"sql failed: {one_line(exc)}{hint if _is_write_refusal(exc) else ''}")
    if as_json:
        objects = [dict(zip(columns, row, strict=True)) for row in rows]
        typer.echo(json.dumps(objects, default=_json_default, ensure_ascii=False))
        return
    print_table(columns, (["NULL" if v is None else str(v) for v in row] for row in rows))


@app.command("wait-health")
def wait_health(
    url: Annotated[str, typer.Argument(help="Health URL, e.g. http://127.0.0.1:4010/healthz")],
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 15.0,
    interval: Annotated[float, typer.Option(help="Seconds between probes.")] = 0.1,
) -> None:
    """Block until URL answers {"ok": true}."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            reply = httpx.get(url, timeout=max(interval, 1.0))
            if reply.status_code == 200 and reply.json().get("ok") is True:
                typer.echo(f"healthy: {url}")
                return
            last = f"HTTP {reply.status_code}"
        except (httpx.HTTPError, ValueError) as exc:
            last = type(exc).__name__
        time.sleep(interval)
    fail(f"{url} not healthy after {timeout:g}s ({last})")


@bench_app.command("throughput")
def bench_throughput(
    runs: Annotated[int, typer.Option(help="Intent runs per measurement.")] = 60,
    db: Annotated[list[str] | None, typer.Option(help="Database URL(s); default SQLite.")] = None,
    clients: Annotated[int, typer.Option(help="Threads starting runs concurrently.")] = 4,
    workers: Annotated[
        list[int] | None,
        typer.Option(
            help="Worker processes executing the runs (repeat to compare, e.g. 1, 2, 4); "
            "default: the bench process runs them itself."
        ),
    ] = None,
    repeat: Annotated[
        int,
        typer.Option(
            min=1,
            help="Measurements per setup, each in a fresh process; the figures and ratios "
            "reported are their medians.",
        ),
    ] = 3,
) -> None:
    """Intent runs per second and latency, beside bare DBOS on the same queues."""
    from jejakekal.cli.bench import throughput

    throughput(runs=runs, urls=db or [], concurrency=clients, workers=workers or [], repeat=repeat)


DbOpt = Annotated[
    list[str] | None, typer.Option("--db", help="Database URL(s); default a scratch SQLite.")
]


@bench_app.command("ingest")
def bench_ingest(
    runs: Annotated[int, typer.Option(help="Document runs to time.")] = 100,
    db: DbOpt = None,
) -> None:
    """POST /runs (sleepMs=0) to terminal `done` over HTTP, p50/p95."""
    from jejakekal.cli.bench import http_latency

    http_latency("ingest", runs, db or [])


@bench_app.command("resume")
def bench_resume(
    runs: Annotated[int, typer.Option(help="Resumes to time.")] = 30,
    db: DbOpt = None,
) -> None:
    """POST /runs/{id}/resume on a cancelled run to its next step starting, p50/p95."""
    from jejakekal.cli.bench import http_latency

    http_latency("resume", runs, db or [])


@bench_app.command("ui")
def bench_ui(
    runs: Annotated[int, typer.Option(help="Page loads to time.")] = 30,
    db: DbOpt = None,
) -> None:
    """A real Chromium loading the UI until the run list is rendered, p50/p95."""
    from jejakekal.cli.bench import http_latency

    http_latency("ui", runs, db or [])


@bench_app.command("query")
def bench_query(
    samples: Annotated[int, typer.Option(help="Queries of each kind to time.")] = 300,
    seed_runs: Annotated[int, typer.Option(help="Seeded document runs.")] = 10_000,
    seed_chunks: Annotated[int, typer.Option(help="Seeded chunks in all.")] = 100_000,
    db: DbOpt = None,
) -> None:
    """GET /search and GET /runs/{id} on a seeded store, over HTTP, p50/p95."""
    from jejakekal.cli.bench import query

    query(samples=samples, seed_runs=seed_runs, seed_chunks=seed_chunks, urls=db or [])


@bench_app.command("longpoll")
def bench_longpoll(
    waiters: Annotated[int, typer.Option(min=1, help="Long polls held at once.")] = 200,
    seconds: Annotated[
        float,
        typer.Option(min=0.5, help="Length of each phase; the default outlasts one 10 s wait."),
    ] = 12.0,
    db: DbOpt = None,
    shim: Annotated[
        bool, typer.Option(help="Against `api --shim` (runs executed by a `worker` process).")
    ] = False,
) -> None:
    """/healthz p50/p99 and the API's CPU, idle and while long polls wait on a running run."""
    from jejakekal.cli.bench import longpoll

    longpoll(waiters=waiters, seconds=seconds, urls=db or [], shim=shim)


@bench_app.command("gates")
def bench_gates(
    runs: Annotated[int, typer.Option(min=1, help="Runs waiting on a gate at once.")] = 200,
    clients: Annotated[int, typer.Option(min=1, help="Threads answering them.")] = 16,
    db: DbOpt = None,
) -> None:
    """Runs waiting on a gate, answered in one burst: lost or doubled answers (SQL),
    /healthz p50/p99 and answer-to-resumed p50/p95."""
    from jejakekal.bench.gates import describe, measure, problems
    from jejakekal.cli.bench import scratch_space, write_result
    from jejakekal.storage.engine import db_kind

    results = []
    with scratch_space() as scratch:
        for url in scratch.urls(db or []):
            typer.echo(f"gates on {db_kind(url)}: {runs} runs, answered by {clients} clients ...")
            results.append(measure(url, scratch.home(), runs, clients))
            typer.echo("\n".join(describe(results[-1])))
    typer.echo(f"written {write_result('gates', results)}")
    found = [f"{r['db']}: {p}" for r in results for p in problems(r)]
    if found:
        fail("bench gates: " + "; ".join(found))


@bench_app.command("check")
def bench_check(
    budgets: Annotated[Path, typer.Option(help="The budgets file.")] = Path("budgets.json"),
    backend: Annotated[
        list[str] | None,
        typer.Option(
            help="sqlite or postgresql (repeat for both); default each backend with a "
            "recorded result (SQLite when there is none)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line of verdicts.")] = False,
) -> None:
    """Compare the latest results (.cache/bench/) with budgets.json, on SQLite and
    PostgreSQL; non-zero if a figure is over or missing (naming the bench to run)."""
    from jejakekal.bench.budgets import BACKENDS, recorded_backends
    from jejakekal.cli.bench import RESULTS, check

    unknown = sorted(set(backend or []) - set(BACKENDS))
    if unknown:
        fail(f"--backend must be sqlite or postgresql, not {', '.join(unknown)}")
    check(budgets, backend or recorded_backends(RESULTS) or ["sqlite"], as_json)


GoldenDir = Annotated[Path, typer.Option("--dir", help="Where the snapshots live.")]
GOLDEN_DIR = Path("tests/golden")


def _golden_files(db: str | None) -> dict[str, bytes]:
    import tempfile

    from jejakekal.golden.snapshots import render

    if db:
        given_database(db)
    with tempfile.TemporaryDirectory(prefix="jejakekal-golden-", ignore_cleanup_errors=True) as f:
        home = Path(f)
        url = db or f"sqlite:///{home / 'golden.sqlite'}"
        return render(load_settings().with_overrides(database_url=url, home=home))


@golden_app.command("record")
def golden_record(
    folder: GoldenDir = GOLDEN_DIR,
    db: Annotated[str | None, typer.Option(help="Database URL; default scratch SQLite.")] = None,
) -> None:
    """Run the corpus and overwrite the recorded snapshots (review `golden diff` first)."""
    from jejakekal.golden.compare import record

    files = _golden_files(db)
    record(folder, files)
    typer.echo(f"recorded {len(files)} files in {folder}")


@golden_app.command("diff")
def golden_diff(
    folder: GoldenDir = GOLDEN_DIR,
    db: Annotated[str | None, typer.Option(help="Database URL; default scratch SQLite.")] = None,
) -> None:
    """Run the corpus and diff against the recorded snapshots; non-zero on any change."""
    from jejakekal.golden.compare import changed, diff

    if not folder.is_dir():
        fail(f"no snapshots in {folder}; run `jejakekal golden record` first")
    files = _golden_files(db)
    lines = diff(folder, files)
    if lines:
        sys.stdout.writelines(lines)
        names = changed(folder, files)
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        fail(f"golden snapshots differ from {folder} ({len(lines)} diff lines) in {shown}")
    typer.echo(f"golden snapshots match {folder}")


def _is_write_refusal(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "read-only" in text or "readonly" in text or "query_only" in text


@app.command("export")
def export(
    run_id: Annotated[str, typer.Argument(help="Run id or workflow id.")],
    actor: Annotated[
        str | None, typer.Option(help="Who exports, for the audit; default the login name.")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why, for the audit.")] = None,
) -> None:
    """Write the run's audit bundle under <home>/bundles/ and print its path (audited)."""
    from jejakekal.bootstrap import build_kernel
    from jejakekal.domain.audit import Who, parse_reason
    from jejakekal.domain.gates import Origin, parse_actor

    settings = load_settings()
    # Before the kernel: building it would create (and migrate) a missing database.
    existing_database(settings.resolved_database_url, "the database URL")
    kernel = build_kernel(settings, "shim")
    try:
        who = Who(parse_actor(actor or login_name(), "--actor"), Origin.CLI, parse_reason(reason))
        described = kernel.control.export_run(run_id, who)
    except JejakekalError as exc:
        fail(f"export failed: {describe(exc)}")
    finally:
        kernel.close()
    typer.echo(described.run_bundle_path)


def _json_default(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


def _require_reachable(settings: Settings) -> None:
    given_database(settings.resolved_database_url, "the database URL")


def main() -> None:
    # The errors a user can cause (a bad setting or URL, no database, an unknown id, a
    # file that is missing or cannot be written) are one line; anything else is a bug
    # of the product and keeps its traceback.
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except InvalidSetting as exc:
        _exit_with(str(exc))
    except JejakekalError as exc:
        _exit_with(describe(exc))
    except OSError as exc:
        _exit_with(str(exc))


def _exit_with(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    sys.exit(1)


if __name__ == "__main__":
    main()
