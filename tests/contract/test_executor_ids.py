"""One executor id per live process: the claim in `app.workers`, on both backends.

DBOS recovers, at launch, the pending runs of its executor id; a second process under
the id of a live one would take that one's runs. A dead holder's id is taken over: on
this host a dead pid decides at once, elsewhere a heartbeat older than the bound.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from jejakekal.domain.errors import ExecutorIdInUse
from jejakekal.storage import schema as s
from jejakekal.storage import workers
from jejakekal.storage.database import Database
from jejakekal.storage.migrations import migrate
from jejakekal.workflows.fleet import Heartbeat, claim_executor_id

HOST = socket.gethostname()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    db = Database.open(database_url)
    migrate(db)
    yield db
    db.dispose()


@pytest.fixture
def other_process() -> Iterator[subprocess.Popen[bytes]]:
    """A live process on this host that is not this one."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _now() -> int:
    return int(time.time() * 1000)


def _row(db: Database, executor_id: str, *, host: str, pid: int, seen_ms: int) -> None:
    with db.write() as tx:
        tx.execute(
            s.workers.insert().values(
                executor_id=executor_id,
                app_version="v",
                role="full",
                host=host,
                pid=pid,
                started_at_ms=seen_ms,
                last_seen_ms=seen_ms,
            )
        )


def _pids(db: Database) -> list[tuple[str, str, int]]:
    with db.read() as tx:
        rows = tx.execute(sa.select(s.workers.c.executor_id, s.workers.c.host, s.workers.c.pid))
        return sorted((r[0], r[1], r[2]) for r in rows)


def test_a_live_process_on_this_host_keeps_its_id_and_the_refusal_names_it(
    db: Database, other_process: subprocess.Popen[bytes]
) -> None:
    _row(db, "local", host=HOST, pid=other_process.pid, seen_ms=_now())

    with pytest.raises(ExecutorIdInUse) as refused:
        claim_executor_id(db, "local", "v", "full")

    assert f"pid {other_process.pid} on {HOST}" in refused.value.message
    assert "JEJAKEKAL_EXECUTOR_ID" in refused.value.message
    assert _pids(db) == [("local", HOST, other_process.pid)]


def test_a_dead_pid_on_this_host_is_taken_over_at_once_though_its_beat_is_fresh(
    db: Database, other_process: subprocess.Popen[bytes]
) -> None:
    _row(db, "local", host=HOST, pid=other_process.pid, seen_ms=_now())
    other_process.kill()
    other_process.wait()

    claim_executor_id(db, "local", "v", "full")

    assert _pids(db) == [("local", HOST, os.getpid())]


def test_a_killed_but_unreaped_process_counts_as_dead(
    db: Database, other_process: subprocess.Popen[bytes]
) -> None:
    _row(db, "local", host=HOST, pid=other_process.pid, seen_ms=_now())
    other_process.kill()
    deadline = time.monotonic() + 10
    while "Z" not in _state(other_process.pid):  # a zombie until its parent reaps it
        assert time.monotonic() < deadline
        time.sleep(0.01)

    claim_executor_id(db, "local", "v", "full")

    assert _pids(db) == [("local", HOST, os.getpid())]


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[-1].split()[0]


def test_another_hosts_process_holds_its_id_until_its_heartbeat_goes_stale(
    db: Database,
) -> None:
    _row(db, "fresh", host="elsewhere", pid=os.getpid(), seen_ms=_now())
    _row(db, "stale", host="elsewhere", pid=os.getpid(), seen_ms=_now() - 60_000)

    with pytest.raises(ExecutorIdInUse):
        claim_executor_id(db, "fresh", "v", "worker")
    claim_executor_id(db, "stale", "v", "worker")

    assert _pids(db) == [
        ("fresh", "elsewhere", os.getpid()),
        ("stale", HOST, os.getpid()),
    ]


@pytest.mark.parametrize("held_before", [False, True], ids=["new-id", "dead-holder"])
def test_processes_claiming_one_id_at_the_same_instant_leave_one_winner(
    db: Database, held_before: bool
) -> None:
    if held_before:
        _row(db, "local", host="gone", pid=1, seen_ms=_now() - 60_000)
    dead = workers.holder(db, "local")
    barrier = threading.Barrier(8)
    won: list[int] = []

    def start(pid: int) -> None:
        barrier.wait()
        if workers.take(
            db,
            executor_id="local",
            app_version="v",
            role="full",
            host=HOST,
            pid=pid,
            now_ms=_now(),
            replacing=dead,
        ):
            won.append(pid)

    threads = [threading.Thread(target=start, args=(100_000 + n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(won) == 1
    assert _pids(db) == [("local", HOST, won[0])]


def test_a_process_whose_id_was_taken_over_stops_beating_and_leaves_the_row(
    db: Database,
) -> None:
    stalled = Heartbeat(db, "local", "v", "full")
    stalled.pid = 111  # a process that beat once, then went silent past the bound
    assert stalled.beat() is True
    taker = {"app_version": "v", "role": "full", "host": HOST, "pid": 222, "now_ms": _now()}
    assert workers.take(db, executor_id="local", replacing=workers.holder(db, "local"), **taker)

    still_mine = stalled.beat()
    stalled.stop()  # its clean shutdown must not mark the taker gone

    holder = workers.holder(db, "local")
    assert still_mine is False
    assert holder is not None
    assert (holder.pid, holder.last_seen_ms) == (222, taker["now_ms"])
