"""Long polls hold no thread: many waiters on a running run, on both backends [API-3].

The server runs in this process (uvicorn in a thread), so `threading.enumerate()` lists
its pools' threads; the waiters are one asyncio client in threads of their own name.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import uvicorn

from conftest import serve_app_in_thread
from jejakekal.app import create_api_app
from jejakekal.config import Settings

WAITERS = 100
CLIENT = "test-client"
# anyio's worker threads, and the default executor's of an asyncio or a uvloop loop.
POOLS = ("AnyIO worker thread", "asyncio_", "uvloop_")


@pytest.fixture
def server(settings: Settings) -> Iterator[tuple[uvicorn.Server, httpx.Client]]:
    server, thread, port = serve_app_in_thread(create_api_app(settings, "full"))
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        try:
            yield server, client
        finally:
            server.should_exit = True
            thread.join(timeout=30)


def _until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.02)


def _most_threads_over(seconds: float) -> int:
    """The most threads seen while sampling for `seconds` (a pool grows as work arrives)."""
    most, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        most = max(most, _pool_threads())
        time.sleep(0.005)
    return most


def _pool_threads() -> int:
    """Threads of the server's pools: the request pool (anyio) and its loop's executor."""
    return sum(1 for t in threading.enumerate() if t.name.startswith(POOLS))


def _long_polls(base: str, path: str, count: int) -> Future[list[httpx.Response]]:
    """`count` concurrent GETs of `path` from one asyncio client in one thread."""

    async def all_of_them() -> list[httpx.Response]:
        executor = ThreadPoolExecutor(thread_name_prefix=CLIENT)
        asyncio.get_running_loop().set_default_executor(executor)
        limits = httpx.Limits(max_connections=count)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
            return list(await asyncio.gather(*(http.get(path) for _ in range(count))))

    done: Future[list[httpx.Response]] = Future()

    def run() -> None:
        try:
            done.set_result(asyncio.run(all_of_them()))
        except BaseException as exc:  # handed to the test through the future
            done.set_exception(exc)

    threading.Thread(target=run, name=CLIENT, daemon=True).start()
    return done


def _running_doc_run(client: httpx.Client) -> str:
    reply = client.post("/runs", json={"source": "held", "sleepMs": 60_000})
    assert reply.status_code in (200, 201, 202), reply.text
    run_id: str = reply.json()["run_id"]
    _until(
        lambda: client.get(f"/runs/{run_id}").json()["dbos_status"] == "PENDING",
        "the run executing",
    )
    return run_id


def test_many_long_polls_hold_no_thread_and_all_get_the_final_view(
    server: tuple[uvicorn.Server, httpx.Client],
) -> None:
    uv, client = server
    run_id = _running_doc_run(client)
    for _ in range(5):  # warm the thread pool the way any request does
        client.get(f"/runs/{run_id}")
    threads_before = _pool_threads()

    waiting = _long_polls(str(client.base_url), f"/runs/{run_id}?waitMs=30000", WAITERS)
    _until(lambda: len(uv.server_state.tasks) >= WAITERS, f"{WAITERS} requests in flight")
    threads_while_waiting = _most_threads_over(0.5)
    health = client.get("/healthz")
    still_waiting = not waiting.done()
    cancel = client.post(f"/runs/{run_id}/cancel")
    replies = waiting.result(timeout=60)

    # At most the watcher's few reads in flight (READ_THREADS), never one per waiter.
    assert threads_while_waiting - threads_before <= 4, (threads_before, threads_while_waiting)
    assert health.status_code == 200 and still_waiting
    assert cancel.status_code == 202, cancel.text
    assert [r.status_code for r in replies] == [200] * WAITERS
    views: list[dict[str, Any]] = [r.json() for r in replies]
    assert {(v["run_id"], v["dbos_status"]) for v in views} == {(run_id, "CANCELLED")}


def test_a_long_poll_on_an_unknown_run_is_a_404_at_once(
    server: tuple[uvicorn.Server, httpx.Client],
) -> None:
    _, client = server

    reply = client.get("/runs/run-000000000000000000000000", params={"waitMs": 30_000})

    assert reply.status_code == 404 and reply.json()["code"] == "run_not_found"


def test_a_long_poll_by_workflow_id_answers_when_an_intent_run_stops_running(
    server: tuple[uvicorn.Server, httpx.Client],
) -> None:
    _, client = server
    intent = client.post("/intents", json={"goal": "wait on me", "inputs": {}, "constraints": {}})
    intent_id = intent.json()["intentId"]
    started = client.post(f"/intents/{intent_id}/run", json={}).json()

    # The workflow id names the run as well as the run id; the stub decider then asks
    # a human, which is no longer queued or running.
    view = client.get(f"/runs/{started['workflowId']}", params={"waitMs": 30_000}).json()

    assert view["run_id"] == started["runId"]
    assert view["status"] not in ("queued", "running")
