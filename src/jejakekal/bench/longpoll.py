"""`bench longpoll`: what held long polls cost the API's other requests (README, "Current figures").

A real `jejakekal api` process (or `api --shim` beside a `worker`) runs one document run
that sleeps for the whole bench. Two phases of the same length time `GET /healthz` at a
steady pace: first with nothing else in flight (the baseline), then while `waiters`
clients each hold `GET /runs/{id}?waitMs=10000` on that run (re-issued as each returns,
so all are held throughout; a phase longer than the wait also times the wave of replies
at its end). The server's CPU time over each phase comes from /proc/<pid>/stat; the
extra CPU is the difference, in cores.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import httpx

from jejakekal.bench.client import BenchClient
from jejakekal.bench.results import HealthzPhase, LongpollResult
from jejakekal.bench.server import api_server, settle
from jejakekal.bench.stats import percentile
from jejakekal.storage.engine import db_kind

WAIT_MS = 10_000
RUN_SLEEP_MS = 600_000  # longer than any bench: the run stays `running` throughout
HEALTHZ_EVERY_SEC = 0.02
HOLD_SETTLE_SEC = 1.0  # lets every waiter reach the server before the phase is timed


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the command name, which may hold spaces, start after its `)`.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def time_healthz(base: str, seconds: float) -> list[float]:
    """`GET /healthz` every HEALTHZ_EVERY_SEC for `seconds`: each reply's latency."""
    latencies = []
    with BenchClient(base) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            client.get("/healthz").raise_for_status()
            latencies.append(time.perf_counter() - started)
            time.sleep(max(0.0, HEALTHZ_EVERY_SEC - (time.perf_counter() - started)))
    return latencies


def phase(base: str, pid: int, seconds: float) -> HealthzPhase:
    before, started = cpu_seconds(pid), time.monotonic()
    latencies = time_healthz(base, seconds)
    cores = (cpu_seconds(pid) - before) / (time.monotonic() - started)
    return {
        "healthz_samples": len(latencies),
        "healthz_p50_ms": round(percentile(latencies, 0.5) * 1000, 2),
        "healthz_p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "cpu_cores": round(cores, 4),
    }


class Waiters:
    """`count` clients, each holding a long poll on `run_id` until stopped, in one thread."""

    def __init__(self, base: str, run_id: str, count: int) -> None:
        self.base, self.run_id, self.count = base, run_id, count
        self.replies: dict[int, int] = {}
        self.errors: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()  # bound to the loop that first awaits it
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._main(),))

    def __enter__(self) -> Waiters:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=WAIT_MS / 1000 + 60)
        self._loop.close()

    async def _main(self) -> None:
        limits = httpx.Limits(max_connections=self.count, max_keepalive_connections=self.count)
        timeout = httpx.Timeout(WAIT_MS / 1000 + 60)
        async with httpx.AsyncClient(base_url=self.base, limits=limits, timeout=timeout) as http:
            holders = [asyncio.create_task(self._hold(http)) for _ in range(self.count)]
            await self._stop.wait()
            for holder in holders:
                holder.cancel()
            await asyncio.gather(*holders, return_exceptions=True)

    async def _hold(self, http: httpx.AsyncClient) -> None:
        while True:
            try:
                reply = await http.get(f"/runs/{self.run_id}", params={"waitMs": WAIT_MS})
                self.replies[reply.status_code] = self.replies.get(reply.status_code, 0) + 1
            except httpx.HTTPError as exc:
                self.errors.append(type(exc).__name__)
                await asyncio.sleep(0.1)


def _until_executing(client: BenchClient, run_id: str, timeout: float = 60.0) -> None:
    """Until a worker executes the run (at once in a `full` API; a `worker` dequeues it
    for a shim)."""
    deadline = time.monotonic() + timeout
    while client.get(f"/runs/{run_id}").json()["dbos_status"] != "PENDING":
        if time.monotonic() > deadline:
            raise TimeoutError(f"no worker started run {run_id} in {timeout:g}s")
        time.sleep(0.05)


def measure(
    database_url: str, home: Path, waiters: int, seconds: float, shim: bool = False
) -> LongpollResult:
    server = api_server(database_url, home, shim=shim)
    with server as (base, pid), BenchClient(base) as client:
        body = {"source": "longpoll bench: a run that sleeps", "sleepMs": RUN_SLEEP_MS}
        run_id = client.post("/runs", json=body).raise_for_status().json()["run_id"]
        _until_executing(client, run_id)
        pace = settle(base)
        time_healthz(base, 0.5)  # warm-up: connections, caches, the thread pool
        idle = phase(base, pid, seconds)
        with Waiters(base, run_id, waiters) as held:
            time.sleep(HOLD_SETTLE_SEC)
            waiting = phase(base, pid, seconds)
            status = client.get(f"/runs/{run_id}").raise_for_status().json()["status"]
        client.post(f"/runs/{run_id}/cancel")
    if status != "running":
        raise RuntimeError(f"run {run_id} was {status}, not running, during the bench")
    if held.errors or set(held.replies) - {200}:
        raise RuntimeError(f"long polls failed: {held.replies} {held.errors[:5]}")
    return {
        "db": db_kind(database_url),
        "api": "shim" if shim else "full",
        "waiters": waiters,
        "seconds": seconds,
        "wait_ms": WAIT_MS,
        "queues": pace,
        "idle": idle,
        "waiting": waiting,
        "healthz_p50_ms": waiting["healthz_p50_ms"],
        "healthz_p99_ms": waiting["healthz_p99_ms"],
        "extra_cpu_cores": round(waiting["cpu_cores"] - idle["cpu_cores"], 4),
        "long_poll_replies": held.replies.get(200, 0),
    }
