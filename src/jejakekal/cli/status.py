"""`jejakekal status`: the fleet in a terminal, as the UI's operations page shows it.

It asks the running API (`GET /ops`, `--api-url` or JEJAKEKAL_API_URL), so it reads
what every process of the fleet writes to the shared database; with `--json` it prints
the API's answer as it came.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import typer

from jejakekal.cli.output import fail, print_table
from jejakekal.config import load_settings

if TYPE_CHECKING:
    from jejakekal.domain.fleet import Fleet

FAILED_SHOWN = 10


def status(
    api_url: Annotated[
        str | None, typer.Option("--api-url", help="The API; default JEJAKEKAL_API_URL.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the API's `GET /ops` answer as JSON.")
    ] = False,
) -> None:
    """Runs by status, queue depths, workers and their heartbeats, open gates, recent
    failed runs and step durations, read from the running API."""
    settings = load_settings()
    base = (api_url or settings.resolved_api_url).rstrip("/")
    shown = _fetch(base, settings.api_token)
    if as_json:
        typer.echo(json.dumps(shown, ensure_ascii=False))
        return
    from jejakekal.domain.fleet import Fleet

    _print(Fleet.from_json(shown))


def _fetch(base: str, token: str | None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        reply = httpx.get(f"{base}/ops", headers=headers, timeout=30.0)
    except httpx.HTTPError as exc:
        fail(f"cannot reach the API at {base}: {type(exc).__name__} (is it running?)")
    if reply.status_code != 200:
        fail(f"the API at {base} answered {reply.status_code}: {_message(reply)}")
    try:
        body: dict[str, Any] = reply.json()
    except ValueError:
        fail(f"the API at {base} did not answer JSON at /ops (is it a jejakekal API?)")
    return body


def _message(reply: httpx.Response) -> str:
    try:
        body = reply.json()
    except ValueError:
        return reply.text.strip().splitlines()[0][:200] if reply.text.strip() else "no body"
    if isinstance(body, dict) and "code" in body:
        return f"{body['code']}: {body.get('message', '')}"
    return str(body)[:200]


def _print(fleet: Fleet) -> None:
    gates = fleet.open_gates
    typer.echo(
        f"{fleet.workers_alive} worker(s) alive · {gates.count} open gate(s)"
        + (f", the oldest waiting {gates.oldest_age_s:.0f} s" if gates.oldest_age_s else "")
        + f" · {fleet.failed_total} failed run(s)"
    )
    counted = [r for r in fleet.runs if r.count]
    if counted:
        print_table(["KIND", "STATUS", "RUNS"], ([r.kind, r.status, str(r.count)] for r in counted))
    else:
        typer.echo("No runs yet.")
    print_table(
        ["QUEUE", "ENQUEUED", "PENDING"],
        ([q.queue, str(q.enqueued), str(q.pending)] for q in fleet.queues),
    )
    _print_workers(fleet)
    if gates.items:
        print_table(
            ["RUN", "GATE", "QUESTION", "WAITING"],
            ([g.run_id, g.key, g.question, f"{g.age_s:.0f} s"] for g in gates.items),
        )
    if fleet.failed:
        print_table(
            ["FAILED RUN", "KIND", "STATUS", "WHEN", "ERROR"],
            (
                [r.run_id, r.kind, r.status, r.at or "", _first_line(r.error)]
                for r in fleet.failed[:FAILED_SHOWN]
            ),
        )
    if fleet.steps:
        print_table(
            ["STEP", "COUNT", "MEAN"],
            ([s.step, str(s.count), f"{1000 * s.sum_s / s.count:.0f} ms"] for s in fleet.steps),
        )


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n", 1)[0]


def _print_workers(fleet: Fleet) -> None:
    if not fleet.workers:
        typer.echo("No worker has ever started on this database.")
        return
    rows = []
    for w in fleet.workers:
        state = "alive" if w.alive else ("stopped" if w.age_s is None else "dead")
        seen = "shut down" if w.age_s is None else f"{w.age_s:.1f} s ago"
        rows.append([w.executor_id, w.role, f"{w.host} ({w.pid})", w.app_version, seen, state])
    print_table(["WORKER", "ROLE", "HOST (PID)", "VERSION", "LAST HEARTBEAT", "STATE"], rows)
