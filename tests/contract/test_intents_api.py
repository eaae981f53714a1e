"""Contract tests of the intent API [API-1..5]: the operator course's walkthroughs B-F and J.

Every test runs once on SQLite and once on PostgreSQL, most of them against `api`: a real
server with a DBOS worker on a fresh database. SQL is the oracle for every claim about
what was (or was not) written; the HTTP replies are only the claim.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from dbos import DBOSClient, DBOSPortableJSONSerializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import JSON, MIB, Api, free_port, q

STEPS = ["CompileST", "ApplyPatchST", "DecideST", "ExecuteST"]
VIEW_KEYS = [
    "run_id", "runId", "workflowId", "kind", "status", "dbos_status", "lastStep",
    "retryCount", "goal", "recipe", "nextAction", "error", "header", "steps", "timeline",
    "artifacts", "plan", "gates", "ledger", "actions", "parentRunId", "forkStep", "forks",
]  # fmt: skip
HEADER_KEYS = [
    "name",
    "recovery_attempts",
    "app_version",
    "executor_id",
    "created_at",
    "updated_at",
]
B_BODY = {
    "traceId": "po-demo",
    "recipeName": "compile-default",
    "workload": {"concurrency": 1, "steps": 2, "sandboxMinutes": 1},
}


# -- helpers ---------------------------------------------------------------------------


def write_counts(api: Api) -> dict[str, int]:
    """Row counts of every table an intent or a start could write, in one read."""
    rows = api.sql(
        "SELECT (SELECT COUNT(*) FROM app.intents) AS intents,"
        " (SELECT COUNT(*) FROM app.runs) AS runs,"
        " (SELECT COUNT(*) FROM dbos.workflow_status) AS workflows"
    )
    return {k: int(v) for k, v in rows[0].items()}


def step_rows(api: Api, run_id: str) -> dict[str, dict[str, Any]]:
    """`app.run_steps` of a run by step id, with `attempt` read out of the JSON output."""
    attempt = "json_extract(output, '$.attempt')" if api.is_sqlite else "(output->>'attempt')::int"
    template = (
        "SELECT step_id, phase, " + attempt + " AS attempt, finished_at"
        " FROM app.run_steps WHERE run_id = '{run}'"
    )
    return {r["step_id"]: r for r in api.sql(q(template, run=run_id))}


def receipts(api: Api, run_id: str, nodes: int) -> list[tuple[str, int]]:
    """The mock external system's view of a run's execution nodes, one key per node."""
    keys = {f"k{i}": f"{run_id}:ExecuteST:exec-{i}" for i in range(1, nodes + 1)}
    wanted = ", ".join("'{" + name + "}'" for name in keys)
    template = (
        "SELECT receipt_key, seen_count FROM app.mock_receipts"
        " WHERE receipt_key IN (" + wanted + ") ORDER BY receipt_key"
    )
    return [(r["receipt_key"], int(r["seen_count"])) for r in api.sql(q(template, **keys))]


def wait_until(
    api: Api, run_id: str, ready: Callable[[dict[str, Any]], bool], timeout: float = 30.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        view = api.client.get(f"/runs/{run_id}").json()
        if ready(view):
            return view
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} never got ready; last view: {view}")


def settled(status: str, dbos_status: str) -> Callable[[dict[str, Any]], bool]:
    """Our status is committed and the engine has closed the workflow after it."""
    return lambda v: v.get("status") == status and v.get("dbos_status") == dbos_status


def start_run(api: Api, goal: str, body: dict[str, Any] | None = None) -> str:
    return str(api.start(api.create_intent(goal), body or {})["runId"])


def assert_error(reply: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    body: dict[str, Any] = reply.json()
    assert (body.get("error"), body.get("code")) == (code, code), body
    assert isinstance(body.get("message"), str), body
    assert body["message"], body
    return body


def raw_request(api: Api, method: str, raw_path: str, body: bytes = b"") -> tuple[int, Any]:
    """Send `raw_path` byte for byte: no client library gets to normalise it."""
    host, port = api.base_url.removeprefix("http://").split(":")
    head = (
        f"{method} {raw_path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode("ascii") + body)
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
            return response.status, json.loads(response.read())
        finally:
            response.close()


def release_parked_workflow(api: Api, workflow_id: str) -> None:
    """Wake a workflow that a cancel left parked in `DBOS.recv`, so its thread can end.

    Neither the cancel nor `Kernel.close()` wakes it; left parked, its non-daemon executor
    thread would keep this pytest process alive for up to an hour (`serve` sidesteps
    the same thread with `os._exit`).
    """
    client = DBOSClient(
        system_database_url=api.settings.resolved_database_url,
        serializer=DBOSPortableJSONSerializer(),
    )
    try:
        client.send(workflow_id, {"wake": True}, topic="input")
    finally:
        client.destroy()


# -- walkthrough B: happy path, dual read, stable timeline -----------------------------


def test_happy_run_succeeds_with_every_step_done_on_its_first_attempt(api: Api) -> None:
    intent_id = api.create_intent("demo chain")

    started = api.start(intent_id, B_BODY)
    view = api.wait_status(started["runId"], "succeeded", "failed", "retries_exceeded")

    run_id = started["runId"]
    assert started["workflowId"] == intent_id
    assert (view["status"], view["kind"], view["lastStep"]) == ("succeeded", "intent", "ExecuteST")
    assert (view["retryCount"], view["error"]) == (0, None)
    assert [s["stepId"] for s in view["steps"]] == STEPS
    assert [(s["phase"], s["attempt"]) for s in view["steps"]] == [("done", 1)] * 4
    rows = step_rows(api, run_id)
    assert sorted(rows) == sorted(STEPS)
    assert {step: (r["phase"], r["attempt"]) for step, r in rows.items()} == dict.fromkeys(
        STEPS, ("done", 1)
    )
    decisions = q("SELECT COUNT(*) FROM app.opencode_calls WHERE run_id = '{run}'", run=run_id)
    assert api.count(decisions) == 1
    assert receipts(api, run_id, nodes=2) == [
        (f"{run_id}:ExecuteST:exec-1", 1),
        (f"{run_id}:ExecuteST:exec-2", 1),
    ]


def test_nodes_finishing_together_each_land_once_and_the_last_closes_execute(api: Api) -> None:
    # Two waves of eight at the recipe's concurrency cap, ids past exec-9.
    workload = {"concurrency": 8, "steps": 12, "sandboxMinutes": 1}
    run_id = start_run(api, "wide chain", {"workload": workload})

    view = api.wait_status(run_id, "succeeded", "failed", "retries_exceeded")

    assert view["status"] == "succeeded"
    execute = next(s for s in view["steps"] if s["stepId"] == "ExecuteST")
    assert (execute["phase"], execute["attempt"]) == ("done", 1)
    listed = [n["node_id"] for n in execute["output"]["nodes"]]
    assert listed == [f"exec-{n}" for n in range(1, 13)]
    assert {n["receipt"]["receipt_key"] for n in execute["output"]["nodes"]} == {
        f"{run_id}:ExecuteST:{node}" for node in listed
    }
    # No step of the parent after its children: their last transaction closed the run.
    assert view["timeline"][-1]["function_name"] == "DBOS.getResult"


def test_run_view_reads_the_same_by_run_id_and_workflow_id(api: Api) -> None:
    intent_id = api.create_intent("demo chain")
    run_id = api.start(intent_id, B_BODY)["runId"]
    # The engine closes the workflow just after our last step commits the outcome.
    wait_until(api, run_id, settled("succeeded", "SUCCESS"))

    by_run = api.client.get(f"/runs/{run_id}")
    by_workflow = api.client.get(f"/runs/{intent_id}")

    assert by_run.status_code == by_workflow.status_code == 200
    assert by_run.content == by_workflow.content
    view = by_run.json()
    assert list(view) == VIEW_KEYS
    assert view["run_id"] == view["runId"] == run_id
    assert view["workflowId"] == intent_id
    assert view["dbos_status"] == "SUCCESS"
    assert list(view["header"]) == HEADER_KEYS
    assert view["header"]["name"] == "run_intent"
    assert view["header"]["app_version"] == api.settings.app_version


def test_timeline_function_ids_are_contiguous_from_one_in_step_order(api: Api) -> None:
    run_id = start_run(api, "demo chain", B_BODY)

    view = wait_until(api, run_id, settled("succeeded", "SUCCESS"))

    ids = [op["function_id"] for op in view["timeline"]]
    assert ids == list(range(1, len(ids) + 1))
    names = [op["function_name"] for op in view["timeline"]]
    assert [n for n in names if n in STEPS] == STEPS[:3]
    assert [op["error"] for op in view["timeline"]] == [None] * len(ids)


# -- walkthrough C: exactly once under parallel start ----------------------------------


def test_parallel_identical_starts_return_one_run_and_leave_one_row(api: Api) -> None:
    intent_id = api.create_intent("idempotency demo")
    gate = threading.Barrier(10)

    def start(_: int) -> httpx.Response:
        with httpx.Client(base_url=api.base_url, timeout=30) as client:
            gate.wait()
            return client.post(f"/intents/{intent_id}/run", json={"traceId": "idem"})

    with ThreadPoolExecutor(max_workers=10) as pool:
        replies = list(pool.map(start, range(10)))

    assert [r.status_code for r in replies] == [202] * 10, [r.text for r in replies]
    ids = {(r.json()["runId"], r.json()["workflowId"]) for r in replies}
    assert len(ids) == 1
    assert next(iter(ids))[1] == intent_id
    runs = q("SELECT COUNT(*) FROM app.runs WHERE workflow_id = '{wf}'", wf=intent_id)
    workflows = q(
        "SELECT COUNT(*) FROM dbos.workflow_status WHERE workflow_uuid = '{wf}'", wf=intent_id
    )
    assert (api.count(runs), api.count(workflows)) == (1, 1)
    assert api.wait_status(intent_id, "succeeded", "failed")["status"] == "succeeded"


def test_a_different_body_for_a_started_intent_is_a_payload_mismatch(api: Api) -> None:
    intent_id = api.create_intent("idempotency demo")
    first = api.start(intent_id, {"traceId": "idem"})
    before = write_counts(api)

    again = api.client.post(f"/intents/{intent_id}/run", json={"traceId": "idem"})
    other = api.client.post(f"/intents/{intent_id}/run", json={"traceId": "other"})

    assert again.status_code == 202
    assert again.json() == first
    assert assert_error(other, 409, "run_payload_mismatch")["workflow_id"] == intent_id
    assert write_counts(api) == before
    runs = q("SELECT COUNT(*) FROM app.runs WHERE workflow_id = '{wf}'", wf=intent_id)
    assert api.count(runs) == 1
    assert api.wait_status(intent_id, "succeeded", "failed")["status"] == "succeeded"


# -- walkthrough D: fail closed --------------------------------------------------------


def test_malformed_intents_answer_typed_400_and_write_nothing(api: Api) -> None:
    cases = [
        (b"{bad", "invalid_json"),
        (b"", "invalid_json"),
        (b'{"goal": NaN, "inputs": {}, "constraints": {}}', "invalid_json"),
        (b'{"inputs":{},"constraints":{}}', "invalid_intent"),
        (b'{"goal":"","inputs":{},"constraints":{}}', "invalid_intent"),
        (b'{"goal":"x","inputs":{},"constraints":{},"extra":1}', "invalid_intent"),
        (b'{"goal":"x","inputs":[],"constraints":{}}', "invalid_intent"),
        (b'["goal"]', "invalid_intent"),
    ]
    for raw, code in cases:
        before = write_counts(api)

        reply = api.client.post("/intents", content=raw, headers=JSON)

        assert_error(reply, 400, code)
        assert write_counts(api) == before, raw


def test_rejected_run_requests_answer_typed_4xx_and_write_nothing(api: Api) -> None:
    intent_id = api.create_intent("schema")
    cap_intent = api.create_intent("caps bad")
    over_cap = (
        b'{"recipeName":"sandbox-default",'
        b'"workload":{"concurrency":999,"steps":1,"sandboxMinutes":1}}'
    )
    cases = [
        (intent_id, b"{bad", 400, "invalid_json"),
        (intent_id, b'{"unknownField":"x"}', 400, "invalid_run_request"),
        (intent_id, b'{"workload":{"concurrency":1,"steps":1}}', 400, "invalid_run_request"),
        (intent_id, b'{"recipeName":"no-such-recipe"}', 400, "recipe_not_found"),
        (cap_intent, over_cap, 400, "queue_policy_violation"),
        ("intent-does-not-exist", b"{}", 404, "intent_not_found"),
    ]
    for target, raw, status, code in cases:
        before = write_counts(api)

        reply = api.client.post(f"/intents/{target}/run", content=raw, headers=JSON)

        body = assert_error(reply, status, code)
        assert write_counts(api) == before, raw
        if code == "queue_policy_violation":
            assert "max_concurrency" in body["message"]
    cap_runs = q("SELECT COUNT(*) FROM app.runs WHERE intent_id = '{i}'", i=cap_intent)
    assert api.count(cap_runs) == 0


# -- hostile ids -----------------------------------------------------------------------


def test_hostile_path_ids_are_refused_and_write_nothing(api: Api) -> None:
    cases = [
        ("GET", "/runs/%2E%2E", "invalid_run_id", "run_id"),
        ("GET", "/runs/%2e%2e", "invalid_run_id", "run_id"),
        ("GET", "/runs/..%2Fx/export", "invalid_run_id", "run_id"),
        ("POST", "/runs/..%2Fx/retry", "invalid_run_id", "run_id"),
        ("GET", "/runs/" + "a" * 129, "invalid_run_id", "run_id"),
        ("POST", "/intents/..%2Fx/run", "invalid_intent_id", "intent_id"),
        ("POST", "/intents/%2E%2E/run", "invalid_intent_id", "intent_id"),
    ]
    for method, raw_path, code, field in cases:
        before = write_counts(api)

        status, body = raw_request(api, method, raw_path, b"{}" if method == "POST" else b"")

        # A server that saw the path normalised (`/runs/..` -> `/`) would answer a
        # routing 404; only the encoded segment, decoded once, yields these codes.
        assert status == 400, (raw_path, body)
        assert (body["error"], body["code"], body["field"]) == (code, code, field), raw_path
        assert write_counts(api) == before, raw_path


def test_unknown_run_is_not_found(api: Api) -> None:
    reply = api.client.get("/runs/run-does-not-exist")

    assert assert_error(reply, 404, "run_not_found")["run_id"] == "run-does-not-exist"


# -- size and type limits --------------------------------------------------------------


def test_a_body_over_one_mebibyte_is_refused_and_writes_nothing(api: Api) -> None:
    huge = json.dumps({"goal": "x" * MIB, "inputs": {}, "constraints": {}}).encode()
    chunks = [huge[i : i + 65_536] for i in range(0, len(huge), 65_536)]
    before = write_counts(api)

    declared = api.client.post("/intents", content=huge, headers=JSON)
    # Chunked, so there is no Content-Length to trust: the reader must count.
    streamed = api.client.post("/intents", content=iter(chunks), headers=JSON)

    assert_error(declared, 413, "payload_too_large")
    assert_error(streamed, 413, "payload_too_large")
    assert write_counts(api) == before


def test_wrong_json_types_are_refused_and_write_nothing(api: Api) -> None:
    intent_id = api.create_intent("types")
    run_path = f"/intents/{intent_id}/run"

    def workload(concurrency: Any) -> dict[str, Any]:
        return {"workload": {"concurrency": concurrency, "steps": 1, "sandboxMinutes": 1}}

    cases = [
        ("/intents", {"goal": 42, "inputs": {}, "constraints": {}}, "invalid_intent", "goal"),
        (run_path, workload("1"), "invalid_run_request", "workload.concurrency"),
        (run_path, workload(0), "invalid_run_request", "workload.concurrency"),
        (run_path, workload(True), "invalid_run_request", "workload.concurrency"),
        (run_path, workload(1.5), "invalid_run_request", "workload.concurrency"),
    ]
    for path, payload, code, field in cases:
        before = write_counts(api)

        reply = api.client.post(path, json=payload)

        assert assert_error(reply, 400, code)["field"] == field, payload
        assert write_counts(api) == before, payload


# -- generated invalid bodies (Hypothesis) ---------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
not_objects = json_values.filter(lambda v: not isinstance(v, dict))
not_strings = json_values.filter(lambda v: not isinstance(v, str))
not_ints = json_values.filter(lambda v: isinstance(v, bool) or not isinstance(v, int))
not_numbers = json_values.filter(lambda v: isinstance(v, bool) or not isinstance(v, int | float))

INTENT_FIELDS = {"goal", "inputs", "constraints"}
RUN_FIELDS = {"traceId", "recipeName", "workload"}
WORKLOAD_FIELDS = {"concurrency", "steps", "sandboxMinutes"}
GOOD_INTENT = {"goal": "generated", "inputs": {}, "constraints": {}}
GOOD_WORKLOAD = {"concurrency": 1, "steps": 1, "sandboxMinutes": 1}


def _with(base: dict[str, Any], key: str, values: st.SearchStrategy[Any]) -> Any:
    return values.map(lambda v: {**base, key: v})


def _without_one(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from(sorted(base)).map(lambda gone: {k: base[k] for k in base if k != gone})


def _extra_keys(fields: set[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(
        st.text(min_size=1, max_size=10).filter(lambda k: k not in fields),
        json_values,
        min_size=1,
        max_size=3,
    )


def invalid_intents() -> st.SearchStrategy[Any]:
    """Bodies that break the intent schema by construction (never a valid intent)."""
    return st.one_of(
        not_objects,
        st.dictionaries(st.text(max_size=10), json_values, max_size=4).filter(
            lambda d: not d.keys() >= INTENT_FIELDS
        ),
        _extra_keys(INTENT_FIELDS).map(lambda extra: {**GOOD_INTENT, **extra}),
        _with(GOOD_INTENT, "goal", not_strings | st.just("")),
        _with(GOOD_INTENT, "inputs", not_objects),
        _with(GOOD_INTENT, "constraints", not_objects),
        _without_one(GOOD_INTENT),
    )


def invalid_workloads() -> st.SearchStrategy[Any]:
    bad_count = not_ints | st.integers(max_value=0) | st.integers(min_value=10_001)
    bad_minutes = not_numbers | st.floats(max_value=0, allow_nan=False, allow_infinity=False)
    return st.one_of(
        not_objects.filter(lambda v: v is not None),
        _with(GOOD_WORKLOAD, "concurrency", bad_count),
        _with(GOOD_WORKLOAD, "steps", bad_count),
        _with(GOOD_WORKLOAD, "sandboxMinutes", bad_minutes),
        _extra_keys(WORKLOAD_FIELDS).map(lambda extra: {**GOOD_WORKLOAD, **extra}),
        _without_one(GOOD_WORKLOAD),
    )


def invalid_run_bodies() -> st.SearchStrategy[Any]:
    """Run requests that break the schema by construction (never a valid start)."""
    bad_name = not_strings.filter(lambda v: v is not None) | st.just("") | st.text(min_size=129)
    return st.one_of(
        not_objects,
        _extra_keys(RUN_FIELDS),
        _extra_keys(RUN_FIELDS).map(lambda extra: {"traceId": "t", **extra}),
        st.fixed_dictionaries({"traceId": bad_name}),
        st.fixed_dictionaries({"recipeName": bad_name}),
        st.fixed_dictionaries({"workload": invalid_workloads()}),
    )


# The server's threads (DBOS's queue pollers) draw from `random` while Hypothesis
# generates; Hypothesis takes that for our strategies using it and warns.
SERVER_USES_RANDOM = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)
GENERATED = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@SERVER_USES_RANDOM
@GENERATED
@given(body=invalid_intents())
def test_generated_invalid_intents_get_a_4xx_and_write_nothing(api: Api, body: Any) -> None:
    before = write_counts(api)

    reply = api.client.post("/intents", content=json.dumps(body), headers=JSON)

    assert 400 <= reply.status_code < 500, (body, reply.text)
    assert reply.json()["code"] == reply.json()["error"], reply.text
    assert write_counts(api) == before, body


@SERVER_USES_RANDOM
@GENERATED
@given(body=invalid_run_bodies())
def test_generated_invalid_run_requests_get_a_4xx_and_write_nothing(api: Api, body: Any) -> None:
    intent_id = api.create_intent("generated run bodies")
    before = write_counts(api)

    reply = api.client.post(f"/intents/{intent_id}/run", content=json.dumps(body), headers=JSON)

    assert 400 <= reply.status_code < 500, (body, reply.text)
    assert reply.json()["code"] == reply.json()["error"], reply.text
    assert write_counts(api) == before, body


# -- walkthrough E: human in the loop --------------------------------------------------


def test_ask_run_waits_for_input_then_succeeds_after_the_event(api: Api) -> None:
    run_id = start_run(api, "ask user")
    waiting = api.wait_status(run_id, "waiting_input")

    accepted = api.client.post(
        f"/runs/{run_id}/events", json={"type": "input", "payload": {"answer": "42"}}
    )
    done = api.wait_status(run_id, "succeeded", "failed", "retries_exceeded")
    late = api.client.post(
        f"/runs/{run_id}/events", json={"type": "input", "payload": {"answer": "again"}}
    )

    assert waiting["lastStep"] == "DecideST"
    assert f"/runs/{run_id}/events" in waiting["nextAction"]
    assert accepted.status_code == 202
    assert accepted.json() == {"accepted": True}
    assert done["status"] == "succeeded"
    assert [(s["stepId"], s["attempt"]) for s in done["steps"]] == [(s, 1) for s in STEPS]
    assert_error(late, 409, "event_not_expected")


def test_an_event_of_an_unexpected_type_is_refused_and_the_run_keeps_waiting(api: Api) -> None:
    run_id = start_run(api, "ask fast")

    early = api.client.post(f"/runs/{run_id}/events", json={"type": "too_soon", "payload": {}})
    api.wait_status(run_id, "waiting_input")
    wrong = api.client.post(f"/runs/{run_id}/events", json={"type": "too_soon", "payload": {}})
    still = api.client.get(f"/runs/{run_id}").json()
    right = api.client.post(f"/runs/{run_id}/events", json={"type": "input", "payload": {}})

    assert_error(early, 409, "event_not_expected")
    assert_error(wrong, 409, "event_not_expected")
    assert still["status"] == "waiting_input"
    assert right.status_code == 202
    assert api.wait_status(run_id, "succeeded", "failed")["status"] == "succeeded"


# -- walkthrough F: terminal failure and the retry envelope ----------------------------


def test_failing_run_ends_retries_exceeded_and_retry_reenters_at_execute(api: Api) -> None:
    run_id = start_run(api, "fail me")
    failed = wait_until(api, run_id, settled("retries_exceeded", "ERROR"))
    first_rows = step_rows(api, run_id)

    retry = api.client.post(f"/runs/{run_id}/retry")
    again = wait_until(
        api, run_id, lambda v: settled("retries_exceeded", "ERROR")(v) and v["retryCount"] == 1
    )

    assert failed["error"]
    assert (failed["retryCount"], failed["lastStep"]) == (0, "ExecuteST")
    assert f"/runs/{run_id}/retry" in failed["nextAction"]
    assert (first_rows["ExecuteST"]["phase"], first_rows["ExecuteST"]["attempt"]) == ("failed", 3)
    assert retry.status_code == 202
    assert retry.json() == {"accepted": True, "newRunId": run_id, "fromStep": "ExecuteST"}
    assert again["error"]
    rows = step_rows(api, run_id)
    for step in STEPS[:3]:
        assert rows[step]["attempt"] == 1, step
        assert rows[step]["finished_at"] == first_rows[step]["finished_at"], step
    assert (rows["ExecuteST"]["phase"], rows["ExecuteST"]["attempt"]) == ("failed", 3)
    decisions = q("SELECT COUNT(*) FROM app.opencode_calls WHERE run_id = '{run}'", run=run_id)
    assert api.count(decisions) == 1


def test_a_retried_run_shows_running_while_its_nodes_run_again(api: Api) -> None:
    run_id = start_run(api, "fail me")
    wait_until(api, run_id, settled("retries_exceeded", "ERROR"))

    assert api.client.post(f"/runs/{run_id}/retry").status_code == 202
    seen: list[str] = []

    def record(view: dict[str, Any]) -> bool:
        if not seen or seen[-1] != view["status"]:
            seen.append(view["status"])
        return settled("retries_exceeded", "ERROR")(view) and view["retryCount"] == 1

    wait_until(api, run_id, record)

    # ExecuteST's attempts back off 0.1 s, then 0.2 s: the run is seen while it runs.
    assert "running" in seen, seen
    assert seen[-1] == "retries_exceeded"
    assert "queued" not in seen[seen.index("running") :], seen


def test_a_succeeded_run_is_not_retryable(api: Api) -> None:
    run_id = start_run(api, "demo chain")
    api.wait_status(run_id, "succeeded")

    reply = api.client.post(f"/runs/{run_id}/retry")

    assert_error(reply, 409, "run_not_retryable")
    assert api.client.get(f"/runs/{run_id}").json()["retryCount"] == 0


# -- flaky lane ------------------------------------------------------------------------


def test_flaky_run_succeeds_on_the_second_execute_attempt_without_duplicates(api: Api) -> None:
    workload = {"concurrency": 2, "steps": 2, "sandboxMinutes": 1}
    run_id = start_run(api, "flaky job", {"workload": workload})

    view = api.wait_status(run_id, "succeeded", "failed", "retries_exceeded")

    assert view["status"] == "succeeded"
    assert [(s["stepId"], s["attempt"]) for s in view["steps"]] == list(
        zip(STEPS, [1, 1, 1, 2], strict=True)
    )
    rows = step_rows(api, run_id)
    assert {step: r["attempt"] for step, r in rows.items()} == dict(
        zip(STEPS, [1, 1, 1, 2], strict=True)
    )
    assert [seen for _, seen in receipts(api, run_id, nodes=2)] == [1, 1]
    assert api.count("SELECT COUNT(*) FROM app.mock_receipts WHERE seen_count > 1") == 0


# -- cancel ----------------------------------------------------------------------------


def test_a_waiting_run_cancels_once(api: Api) -> None:
    run_id = start_run(api, "ask then cancel")
    waiting = api.wait_status(run_id, "waiting_input")

    cancel = api.client.post(f"/runs/{run_id}/cancel")
    view = wait_until(api, run_id, settled("canceled", "CANCELLED"))
    again = api.client.post(f"/runs/{run_id}/cancel")
    release_parked_workflow(api, waiting["workflowId"])

    assert cancel.status_code == 202
    assert cancel.json()["accepted"] is True
    assert view["status"] == "canceled"
    row = q("SELECT COUNT(*) FROM app.runs WHERE id = '{run}' AND status = 'canceled'", run=run_id)
    assert api.count(row) == 1
    assert_error(again, 409, "run_not_cancelable")


# -- run list, forensic SQL and health -------------------------------------------------


def test_run_list_is_newest_first_and_filters_by_status(api: Api) -> None:
    failed = start_run(api, "fail first")
    wait_until(api, failed, settled("retries_exceeded", "ERROR"))
    done = start_run(api, "plain second")
    wait_until(api, done, settled("succeeded", "SUCCESS"))

    def listed(**params: str) -> list[tuple[str, str]]:
        reply = api.client.get("/runs", params=params)
        assert reply.status_code == 200, reply.text
        return [(r["run_id"], r["status"]) for r in reply.json()["items"]]

    assert listed() == [(done, "succeeded"), (failed, "retries_exceeded")]
    assert listed(status="retries_exceeded") == [(failed, "retries_exceeded")]
    assert listed(status="succeeded") == [(done, "succeeded")]
    assert listed(status="waiting_input") == []
    assert listed(kind="intent") == listed()
    assert listed(kind="doc") == []


def test_run_list_refuses_an_unknown_status_with_the_error_envelope(api: Api) -> None:
    reply = api.client.get("/runs", params={"status": "bogus"})

    assert 400 <= reply.status_code < 500, reply.text
    body = reply.json()
    assert body.get("error") == body.get("code"), body
    assert isinstance(body.get("error"), str), body
    assert isinstance(body.get("message"), str), body


def test_forensic_sql_accepts_like_patterns(api: Api) -> None:
    run_id = start_run(api, "forensics")
    api.wait_status(run_id, "succeeded")

    matched = api.count("SELECT COUNT(*) FROM app.runs WHERE id LIKE 'run-%'")

    assert matched == 1, run_id


def test_healthz_names_role_version_and_backend(api: Api) -> None:
    reply = api.client.get("/healthz")

    assert reply.status_code == 200
    body = reply.json()
    assert (body["ok"], body["role"]) == (True, "full")
    assert body["app_version"] == api.settings.app_version
    assert body["db"] == ("sqlite" if api.is_sqlite else "postgresql")
    # A process that runs workflows says how it paces the queues; it starts fast.
    assert body["queues"] == "busy"


# -- lifecycle -------------------------------------------------------------------------


@contextmanager
def serve_process(database_url: str, home: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`jejakekal serve` as an operator starts it, in its own process; killed if it lingers."""
    port = free_port()
    env = {
        **os.environ,
        "JEJAKEKAL_HOME": str(home),
        "JEJAKEKAL_DATABASE_URL": database_url,
        "JEJAKEKAL_QUEUE_POLL_SEC": "0.02",
    }
    cli = Path(sys.executable).parent / "jejakekal"
    home.mkdir(parents=True, exist_ok=True)
    with (home / "serve.log").open("wb") as log:
        server = subprocess.Popen(
            [str(cli), "serve", "--port", str(port)], env=env, stdout=log, stderr=log
        )
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def park_a_run_waiting_for_input(base: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base, timeout=10) as client:
        while True:
            try:
                client.get("/healthz")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve never answered /healthz"
                time.sleep(0.05)
        intent = client.post("/intents", json={"goal": "ask", "inputs": {}, "constraints": {}})
        run_id = str(client.post(f"/intents/{intent.json()['intentId']}/run").json()["runId"])
        while True:
            reply = client.get(f"/runs/{run_id}")
            assert reply.status_code == 200, reply.text
            if reply.json()["status"] == "waiting_input":
                break
            assert time.monotonic() < deadline, "run never reached waiting_input"
            time.sleep(0.05)
    return run_id


def test_serve_exits_promptly_on_ctrl_c_while_a_run_waits_for_input(
    database_url: str, tmp_path: Path
) -> None:
    with serve_process(database_url, tmp_path / "home") as (server, base):
        park_a_run_waiting_for_input(base)

        server.send_signal(signal.SIGINT)
        with suppress(subprocess.TimeoutExpired):
            server.wait(timeout=15)

        assert server.poll() is not None, "serve still running 15 s after Ctrl-C"


def test_a_rejected_plan_fails_the_run_at_decide_and_executes_nothing(api: Api) -> None:
    intent_id = api.create_intent("reject this plan")
    run_id = api.start(intent_id)["runId"]

    view = api.wait_status(run_id, "failed")

    assert view["dbos_status"] == "ERROR"
    assert view["lastStep"] == "DecideST"
    assert "rejected" in view["error"]
    assert [s["stepId"] for s in view["steps"]] == ["CompileST", "ApplyPatchST", "DecideST"]
    assert api.count(f"SELECT COUNT(*) FROM app.opencode_calls WHERE run_id='{run_id}'") == 1
    assert api.count(f"SELECT COUNT(*) FROM app.effects WHERE run_id='{run_id}'") == 0
    retry = api.client.post(f"/runs/{run_id}/retry")
    assert retry.status_code == 202
    assert retry.json() == {"accepted": True, "newRunId": run_id, "fromStep": "DecideST"}
    again = api.wait_status(run_id, "failed")
    assert again["retryCount"] == 1
    # The retry asked the decider again: one envelope per attempt.
    assert api.count(f"SELECT COUNT(*) FROM app.opencode_calls WHERE run_id='{run_id}'") == 2


def test_an_out_of_range_list_offset_is_a_typed_400_not_a_server_error(api: Api) -> None:
    reply = api.client.get("/runs", params={"offset": str(10**24)})

    assert reply.status_code == 400
    assert reply.json()["error"] == "invalid_query"
    assert reply.json()["field"] == "offset"
