"""`bench gates`: many runs waiting on a human gate, answered in one burst (issue 23).

One real `jejakekal api` process (API and worker in one) starts `runs` `script` runs, each
asking gate `go`. Once every gate is open (and the queues have settled to the pace of a
server waiting on people), `clients` threads answer them all at once through `POST
/runs/{id}/gates/go` while another thread times `GET /healthz`, until every run has
ended. While every gate waits, the server's CPU is sampled (DBOS on SQLite polls for
each waiting workflow's message). Before the burst, `quiet` of the runs are answered
one at a time, each left to end: their answer-to-resumed is the wake-up with nothing
else to do. SQL then says whether an answer was lost or applied twice: one `answered`
ledger row per gate, one gate close and one ExecuteST per run.

Answer-to-resumed is read from the database, not the client: from the answer's
`answered_at` (the API process's clock, in the answer's own transaction) to the end of
the workflow's closing gate step (`InputReceived:go` in DBOS `operation_outputs`, the
same process's clock): the workflow woke from its wait, saw the gate answered and
opened ExecuteST. `woken` stops earlier, when DBOS's `recv` returned the answer.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

from jejakekal.bench.client import BenchClient
from jejakekal.bench.longpoll import cpu_seconds
from jejakekal.bench.results import Latency
from jejakekal.bench.server import api_server, settle
from jejakekal.bench.stats import percentile, summary
from jejakekal.config import load_settings
from jejakekal.storage.engine import db_kind
from jejakekal.storage.oracles import read

GATE_KEY = "go"
CLOSE_OP = f"InputReceived:{GATE_KEY}"
ANSWER = {"answer": "approve"}
HEALTHZ_EVERY_SEC = 0.01
ENDED = {"succeeded", "failed", "retries_exceeded", "canceled"}


class GatesResult(TypedDict):
    db: str
    runs: int
    clients: int
    queues: str | None  # the server's queue pace when the burst began
    notification_poll_sec: float  # DBOS's notification poll on SQLite (LISTEN/NOTIFY on PG)
    waiting_cpu_cores: float  # the server's CPU while every gate waits, before any answer
    statuses: dict[str, int]  # the runs' final statuses
    succeeded: int
    answer_replies: dict[str, int]  # HTTP status of each answer -> count
    applied_once: int  # runs whose gate closed once and whose ExecuteST ran once
    answers_lost: int  # gates with no `answered` ledger row
    answers_doubled: int  # gates with more than one `answered` ledger row
    applied_twice: int  # runs whose gate closed, or whose ExecuteST ran, more than once
    burst_sec: float  # first answer sent to the last one's reply
    drain_sec: float  # first answer sent to every run ended
    healthz_samples: int
    healthz_p50_ms: float
    healthz_p99_ms: float
    quiet: int  # runs answered one at a time before the burst, each left to end
    quiet_resumed: Latency  # their answer-to-resumed: the wake-up with nothing else to do
    resumed: Latency  # answered_at to the closing gate step's end
    woken: Latency  # answered_at to DBOS recv returning the answer
    resumed_p50_ms: float
    resumed_p95_ms: float


def _instant(value: Any) -> datetime:
    """A stored timestamp, aware: SQLite hands back naive text, PostgreSQL a datetime."""
    found = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def _summary(seconds: list[float]) -> Latency:
    """As `stats.summary`; zeros for no samples (the audit reports why there are none)."""
    return summary(seconds) if seconds else {"p50_ms": 0.0, "p95_ms": 0.0, "mean_ms": 0.0}


def start_gated_runs(client: BenchClient, runs: int) -> list[str]:
    """`runs` script runs of one command, each asking gate `go` first."""
    gate = {"key": GATE_KEY, "question": "Run echo?"}
    body = {"goal": "gates bench", "inputs": {"commands": ["echo ok"], "gates": [gate]}}
    run_ids = []
    for _ in range(runs):
        intent = client.post("/intents", json={**body, "constraints": {}}).raise_for_status()
        started = client.post(
            f"/intents/{intent.json()['intentId']}/run", json={"recipeName": "script"}
        )
        run_ids.append(str(started.raise_for_status().json()["runId"]))
    return run_ids


def _run_statuses(url: str, run_ids: set[str]) -> dict[str, str]:
    rows = read(url, "SELECT id, status FROM app.runs")
    return {r["id"]: r["status"] for r in rows if r["id"] in run_ids}


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


def _ended(url: str, run_id: str) -> bool:
    rows = read(url, "SELECT status FROM app.runs WHERE id = :id", id=run_id)
    return bool(rows) and rows[0]["status"] in ENDED


def _cpu_cores(pid: int, seconds: float) -> float:
    """The process's CPU over the next `seconds`, in cores."""
    before, started = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.monotonic() - started)


def _all_open(url: str, run_ids: set[str]) -> bool:
    rows = read(url, "SELECT run_id FROM app.gates WHERE status = 'open'")
    return run_ids <= {r["run_id"] for r in rows}


@contextmanager
def healthz_timer(base: str) -> Iterator[list[float]]:
    """`GET /healthz` every HEALTHZ_EVERY_SEC in a thread of its own while the block
    runs; yields the list the latencies are added to."""
    latencies: list[float] = []
    stop = threading.Event()

    def poll() -> None:
        with BenchClient(base) as client:
            while not stop.is_set():
                started = time.perf_counter()
                client.get("/healthz").raise_for_status()
                latencies.append(time.perf_counter() - started)
                stop.wait(max(0.0, HEALTHZ_EVERY_SEC - (time.perf_counter() - started)))

    thread = threading.Thread(target=poll, name="healthz-timer")
    thread.start()
    try:
        yield latencies
    finally:
        stop.set()
        thread.join(timeout=60)


def answer_all(base: str, run_ids: list[str], clients: int) -> dict[str, int]:
    """Answer every run's gate from `clients` threads at once: HTTP status -> count."""
    local = threading.local()
    opened: list[BenchClient] = []

    def answer(run_id: str) -> int:
        client: BenchClient | None = getattr(local, "client", None)
        if client is None:
            client = local.client = BenchClient(base)
            opened.append(client)
        reply = client.post(f"/runs/{run_id}/gates/{GATE_KEY}", json=ANSWER)
        return reply.status_code

    try:
        with ThreadPoolExecutor(max_workers=clients) as pool:
            codes = list(pool.map(answer, run_ids))
    finally:
        for client in opened:
            client.close()
    return {str(code): n for code, n in sorted(Counter(codes).items())}


class Audit(TypedDict):
    applied_once: int  # runs whose gate closed once and whose ExecuteST ran once
    answers_lost: int
    answers_doubled: int
    applied_twice: int


def audit(url: str, run_ids: set[str]) -> Audit:
    """What SQL says of the answers: lost, doubled, applied twice."""
    answered = Counter(
        r["run_id"]
        for r in read(url, "SELECT run_id FROM app.gate_ledger WHERE kind = 'answered'")
        if r["run_id"] in run_ids
    )
    workflows = {
        r["workflow_id"]: r["id"]
        for r in read(url, "SELECT id, workflow_id FROM app.runs")
        if r["id"] in run_ids
    }
    closes = Counter(
        workflows[r["workflow_uuid"]]
        for r in read(
            url,
            "SELECT workflow_uuid FROM dbos.operation_outputs WHERE function_name = :op",
            op=CLOSE_OP,
        )
        if r["workflow_uuid"] in workflows
    )
    # ExecuteST is a step of each node's child workflow, `<run id>:<node id>`.
    executes = Counter(
        str(r["workflow_uuid"]).split(":", 1)[0]
        for r in read(
            url,
            "SELECT workflow_uuid FROM dbos.operation_outputs WHERE function_name = 'ExecuteST'",
        )
    )
    receipts = Counter(
        str(r["receipt_key"]).split(":", 1)[0]
        for r in read(url, "SELECT receipt_key FROM app.mock_receipts WHERE seen_count > 1")
    )
    twice = {run for run in run_ids if closes[run] > 1 or executes[run] > 1 or receipts[run] > 0}
    once = {run for run in run_ids if closes[run] == 1 and executes[run] == 1}
    return {
        "applied_once": len(once - twice),
        "answers_lost": sum(1 for run in run_ids if answered[run] == 0),
        "answers_doubled": sum(1 for run in run_ids if answered[run] > 1),
        "applied_twice": len(twice),
    }


def resume_latencies(url: str, run_ids: set[str]) -> tuple[list[float], list[float]]:
    """Seconds from each answer to its workflow's closing gate step ending, and to its
    `recv` returning."""
    answered_at = {
        r["run_id"]: _instant(r["answered_at"]).timestamp()
        for r in read(
            url, "SELECT run_id, answered_at FROM app.gates WHERE answered_at IS NOT NULL"
        )
        if r["run_id"] in run_ids
    }
    workflows = {
        r["workflow_id"]: r["id"]
        for r in read(url, "SELECT id, workflow_id FROM app.runs")
        if r["id"] in answered_at
    }
    resumed: list[float] = []
    woken: list[float] = []
    for r in read(
        url,
        "SELECT workflow_uuid, function_name, completed_at_epoch_ms FROM dbos.operation_outputs"
        " WHERE function_name IN (:close, 'DBOS.recv')",
        close=CLOSE_OP,
    ):
        run = workflows.get(r["workflow_uuid"])
        if run is None or r["completed_at_epoch_ms"] is None:
            continue
        seconds = int(r["completed_at_epoch_ms"]) / 1000 - answered_at[run]
        (resumed if r["function_name"] == CLOSE_OP else woken).append(seconds)
    return resumed, woken


def measure(
    database_url: str,
    home: Path,
    runs: int,
    clients: int = 16,
    *,
    quiet: int = 10,
    cpu_sample_sec: float = 3.0,
    settle_queues: bool = True,
    timeout: float = 300.0,
) -> GatesResult:
    """Start, wait on, and answer `runs` gated runs in one server; figures and SQL audit."""
    ids: set[str] = set()
    with api_server(database_url, home) as (base, pid), BenchClient(base) as client:
        run_ids = start_gated_runs(client, runs)
        ids = set(run_ids)
        _wait(lambda: _all_open(database_url, ids), timeout, f"{runs} gates to open")
        calm, burst_ids = run_ids[:quiet], run_ids[quiet:]
        if settle_queues:
            settle(base)
        waiting_cpu = _cpu_cores(pid, cpu_sample_sec)
        for run_id in calm:
            client.post(f"/runs/{run_id}/gates/{GATE_KEY}", json=ANSWER).raise_for_status()
            _wait(functools.partial(_ended, database_url, run_id), timeout, f"{run_id} to end")
        pace = settle(base) if settle_queues else None
        with healthz_timer(base) as healthz:
            began = time.monotonic()
            replies = answer_all(base, burst_ids, clients)
            burst = time.monotonic() - began
            _wait(
                lambda: set(_run_statuses(database_url, ids).values()) <= ENDED,
                timeout,
                f"{runs} runs to end",
            )
            drain = time.monotonic() - began
    statuses = Counter(_run_statuses(database_url, ids).values())
    quiet_resumed, _ = resume_latencies(database_url, set(calm))
    resumed, woken = (_summary(s) for s in resume_latencies(database_url, set(burst_ids)))
    return {
        "db": db_kind(database_url),
        "runs": runs,
        "clients": clients,
        "queues": pace,
        "notification_poll_sec": load_settings().queue_poll_sec,
        "waiting_cpu_cores": round(waiting_cpu, 4),
        "statuses": dict(sorted(statuses.items())),
        "succeeded": statuses.get("succeeded", 0),
        "answer_replies": replies,
        **audit(database_url, ids),
        "burst_sec": round(burst, 3),
        "drain_sec": round(drain, 3),
        "healthz_samples": len(healthz),
        "healthz_p50_ms": _summary(healthz)["p50_ms"],
        "healthz_p99_ms": round(percentile(healthz or [0.0], 0.99) * 1000, 2),
        "quiet": len(calm),
        "quiet_resumed": _summary(quiet_resumed),
        "resumed": resumed,
        "woken": woken,
        "resumed_p50_ms": resumed["p50_ms"],
        "resumed_p95_ms": resumed["p95_ms"],
    }


def problems(result: GatesResult) -> list[str]:
    """What the audit found wrong; empty when every answer was applied exactly once."""
    found = []
    if result["succeeded"] != result["runs"]:
        found.append(f"{result['succeeded']} of {result['runs']} runs succeeded")
    if result["answer_replies"] != {"202": result["runs"] - result["quiet"]}:
        found.append(f"answers were not all accepted: {result['answer_replies']}")
    if result["applied_once"] != result["runs"]:
        found.append(f"{result['applied_once']} of {result['runs']} runs applied their answer once")
    counts = (
        ("answers lost", result["answers_lost"]),
        ("answers doubled", result["answers_doubled"]),
        ("runs that applied their answer twice", result["applied_twice"]),
    )
    found += [f"{what}: {n}" for what, n in counts if n]
    return found


def describe(result: GatesResult) -> list[str]:
    """The figures, one line each, as the command prints them."""
    r, resumed, woken = result, result["resumed"], result["woken"]
    return [
        f"{r['db']}: {r['succeeded']}/{r['runs']} runs succeeded; answers lost "
        f"{r['answers_lost']}, doubled {r['answers_doubled']}, applied twice {r['applied_twice']}",
        f"  {r['runs']} gates waiting: the server used {r['waiting_cpu_cores']} cores",
        f"  {r['quiet']} answered one at a time first: answer to resumed p50 "
        f"{r['quiet_resumed']['p50_ms']} ms, p95 {r['quiet_resumed']['p95_ms']} ms",
        f"  burst of {r['runs'] - r['quiet']} answers from {r['clients']} clients: "
        f"{r['burst_sec']} s; all runs ended after {r['drain_sec']} s",
        f"  /healthz during the burst: p50 {r['healthz_p50_ms']} ms, p99 {r['healthz_p99_ms']} ms "
        f"({r['healthz_samples']} samples)",
        f"  answer to resumed: p50 {resumed['p50_ms']} ms, p95 {resumed['p95_ms']} ms; "
        f"to woken: p50 {woken['p50_ms']} ms, p95 {woken['p95_ms']} ms",
    ]
