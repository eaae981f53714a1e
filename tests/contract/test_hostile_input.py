"""Hostile input at every JSON door: a typed 4xx, and not one row written anywhere.

Each test runs on SQLite and on PostgreSQL against a real server. "Writes nothing" is
proved by counting every table of `app.*` and `dbos.*`, enumerated from the catalog.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ValidationError

from conftest import JSON, Api
from jejakekal.domain.contracts import DocRunRequest, EventRequest, IntentCreate, RunRequest
from jejakekal.domain.jsonrules import MAX_JSON_DEPTH

MISSING_RUN = "run-hostile-missing"
NUL = "\\u0000"  # the JSON escape, as a client would send it


def nested(depth: int) -> str:
    """A JSON array nested `depth` levels deep (the outermost counts as one)."""
    return "[" * depth + "]" * depth


def table_counts(api: Api) -> dict[str, int]:
    """Row counts of every table in `app.*` and `dbos.*`, in one read."""
    if api.is_sqlite:
        # One file holds both families (the `app`/`dbos` names are aliases of it).
        names = [r["name"] for r in api.sql("SELECT name FROM sqlite_master WHERE type='table'")]
        quoted = [f'"{n}"' for n in names]
    else:
        rows = api.sql(
            "SELECT table_schema AS s, table_name AS t FROM information_schema.tables"
            " WHERE table_schema IN ('app', 'dbos') AND table_type = 'BASE TABLE'"
        )
        names = [f"{r['s']}.{r['t']}" for r in rows]
        quoted = [f'"{r["s"]}"."{r["t"]}"' for r in rows]
    assert len(names) > 10, names  # the catalog, not an empty or wrong schema
    counts = ", ".join(f"(SELECT COUNT(*) FROM {q}) AS c{i}" for i, q in enumerate(quoted))
    values = api.sql(f"SELECT {counts}")[0]
    return {name: int(values[f"c{i}"]) for i, name in enumerate(names)}


def assert_refused(
    reply: httpx.Response, status: int, code: str, field: str | None, case: str
) -> None:
    assert reply.status_code == status, (case, reply.text)
    body: dict[str, Any] = reply.json()
    assert (body.get("error"), body.get("code")) == (code, code), (case, body)
    assert isinstance(body.get("message"), str) and body["message"], (case, body)
    if field is not None:
        assert body.get("field") == field, (case, body)


def intent_body(goal: str = '"g"', inputs: str = "{}", constraints: str = "{}") -> str:
    return f'{{"goal":{goal},"inputs":{inputs},"constraints":{constraints}}}'


# The JSON itself is hostile: every JSON endpoint answers `400 invalid_json`.
JSON_LEVEL: list[tuple[str, str]] = [
    ("array nested 1000 deep", nested(1000)),
    ("object nested 1000 deep", '{"a":' * 1000 + "1" + "}" * 1000),
    ("one level over the maximum", nested(MAX_JSON_DEPTH + 1)),
    ("overflow to infinity", '{"v":1e400}'),
    ("overflow to minus infinity", '{"v":-1e400}'),
    ("duplicate keys", '{"goal":"a","goal":"b"}'),
    ("a NaN literal", '{"v":NaN}'),
    ("an Infinity literal", '{"v":-Infinity}'),
]


def json_level_cases(intent_id: str) -> list[tuple[str, str, str]]:
    """(path, body, label): the JSON-level cases, each on every JSON endpoint, plus the
    same faults buried where a valid request would carry them."""
    paths = ["/intents", f"/intents/{intent_id}/run", "/runs", f"/runs/{MISSING_RUN}/events"]
    cases = [(path, body, label) for path in paths for label, body in JSON_LEVEL]
    # Bodies 500-998 deep were accepted, then every start of the intent answered 500.
    cases += [
        ("/intents", intent_body(inputs=f'{{"v":{nested(n - 2)}}}'), f"a body {n} deep")
        for n in [500, 998, MAX_JSON_DEPTH + 1]
    ]
    cases += [
        ("/intents", intent_body(inputs='{"v":1e400}'), "inputs overflow"),
        ("/intents", intent_body(inputs='{"a":{"k":1,"k":2}}'), "inputs duplicate key"),
        (f"/runs/{MISSING_RUN}/events", '{"type":"input","payload":{"v":-1e999}}', "payload"),
        (f"/runs/{MISSING_RUN}/events", f'{{"type":"input","payload":{nested(70)}}}', "deep"),
        (f"/intents/{intent_id}/run", '{"workload":{"sandboxMinutes":1e400}}', "workload inf"),
    ]
    return cases


def field_cases(intent_id: str) -> list[tuple[str, str, str, str]]:
    """(path, body, code, field): a string a database cannot hold, or a blank goal."""
    events = f"/runs/{MISSING_RUN}/events"
    run = f"/intents/{intent_id}/run"
    return [
        ("/intents", intent_body(goal=f'"a{NUL}b"'), "invalid_intent", "goal"),
        ("/intents", intent_body(goal='" \\t\\n "'), "invalid_intent", "goal"),
        ("/intents", intent_body(goal='"\\ud800"'), "invalid_intent", "goal"),
        ("/intents", intent_body(inputs=f'{{"k{NUL}":1}}'), "invalid_intent", "inputs"),
        ("/intents", intent_body(inputs=f'{{"a":[{{"b":"x{NUL}"}}]}}'), "invalid_intent", "inputs"),
        ("/intents", intent_body(constraints=f'{{"c":"{NUL}"}}'), "invalid_intent", "constraints"),
        (run, f'{{"traceId":"t{NUL}"}}', "invalid_run_request", "traceId"),
        (run, f'{{"recipeName":"compile-default{NUL}"}}', "invalid_run_request", "recipeName"),
        ("/runs", f'{{"source":"a{NUL}b"}}', "invalid_run_request", "source"),
        ("/runs", f'{{"cmd":"/doc a{NUL}b"}}', "invalid_run_request", "cmd"),
        ("/runs", f'{{"source":"a","workflowId":"w{NUL}"}}', "invalid_run_request", "workflowId"),
        (events, f'{{"type":"in{NUL}put","payload":{{}}}}', "invalid_event", "type"),
        (events, f'{{"type":"input","payload":{{"answer":"{NUL}"}}}}', "invalid_event", "payload"),
        (events, f'{{"type":"input","payload":{{"{NUL}":"x"}}}}', "invalid_event", "payload"),
    ]


QUERY_CASES = [
    ("/artifacts?visibility=a%00b", "visibility"),
    ("/artifacts?type=%00", "type"),
    ("/search?q=a%00", "q"),
    ("/runs?status=%00", "status"),
    ("/runs?kind=intent%00", "kind"),
    (f"/runs/{MISSING_RUN}?waitMs=1%00", "waitMs"),
    ("/healthz?x%00=1", "x\\u0000"),
]


def test_hostile_bodies_and_queries_get_typed_400s_and_write_nothing(api: Api) -> None:
    intent_id = api.create_intent("a target that must never start")
    before = table_counts(api)

    for path, body, label in json_level_cases(intent_id):
        reply = api.client.post(path, content=body.encode(), headers=JSON)
        assert_refused(reply, 400, "invalid_json", None, f"{path}: {label}")
    for path, body, code, field in field_cases(intent_id):
        reply = api.client.post(path, content=body.encode(), headers=JSON)
        assert_refused(reply, 400, code, field, f"{path}: {body[:80]}")
    for target, field in QUERY_CASES:
        assert_refused(api.client.get(target), 400, "invalid_query", field, target)

    assert table_counts(api) == before


def test_a_duplicate_key_and_a_too_deep_body_are_named_in_the_message(api: Api) -> None:
    duplicate = api.client.post(
        "/intents", content=intent_body(inputs='{"k":1,"k":2}'), headers=JSON
    )
    deep = api.client.post("/intents", content=nested(MAX_JSON_DEPTH + 1), headers=JSON)

    assert_refused(duplicate, 400, "invalid_json", None, "duplicate")
    assert '"k"' in duplicate.json()["message"]
    assert_refused(deep, 400, "invalid_json", None, "deep")
    assert deep.json()["limit"] == MAX_JSON_DEPTH


def test_inputs_at_the_maximum_depth_are_accepted_and_run(api: Api) -> None:
    # The body object is level 1, `inputs` level 2: its innermost array is level 64.
    body = intent_body(inputs=f'{{"v":{nested(MAX_JSON_DEPTH - 2)}}}')
    assert body.count("[") + 2 == MAX_JSON_DEPTH

    created = api.client.post("/intents", content=body.encode(), headers=JSON)
    assert created.status_code == 201, created.text
    started = api.start(created.json()["intentId"])

    view = api.wait_status(started["runId"], "succeeded", "failed", "retries_exceeded")
    assert view["status"] == "succeeded", view


# -- content types ---------------------------------------------------------------------


def raw_post(api: Api, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    """A POST with these headers; given bytes, httpx adds no Content-Type of its own."""
    reply = api.client.post(path, content=body, headers=headers)
    return reply.status_code, reply.json()


def test_posts_that_are_not_json_get_415_and_write_nothing(api: Api) -> None:
    intent_id = api.create_intent("content types")
    valid = {
        "/intents": intent_body(),
        f"/intents/{intent_id}/run": "{}",
        "/runs": '{"source":"a document"}',
        f"/runs/{MISSING_RUN}/events": '{"type":"input","payload":{}}',
        f"/runs/{MISSING_RUN}/retry": "",
        f"/runs/{MISSING_RUN}/resume": "",
        f"/runs/{MISSING_RUN}/cancel": "",
    }
    refused_types = [
        "text/plain",  # a cross-site form or fetch sends this without a preflight
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonp",
        "text/json",
        "application/json-seq",
    ]
    before = table_counts(api)

    for path, body in valid.items():
        for content_type in refused_types:
            if path == "/runs" and content_type.startswith(("text/plain", "multipart/")):
                continue  # a document upload there (tests/contract/test_uploads.py)
            status, reply = raw_post(api, path, body.encode(), {"Content-Type": content_type})
            assert (status, reply["code"]) == (415, "unsupported_media_type"), (path, reply)
        if body:
            status, reply = raw_post(api, path, body.encode(), {})
            assert (status, reply["code"]) == (415, "unsupported_media_type"), (path, reply)

    assert table_counts(api) == before


def test_json_content_types_with_parameters_or_a_suffix_are_accepted(api: Api) -> None:
    for content_type in [
        "application/json; charset=utf-8",
        "application/vnd.api+json",
        "Application/JSON",
    ]:
        status, reply = raw_post(
            api, "/intents", intent_body().encode(), {"Content-Type": content_type}
        )
        assert status == 201, (content_type, reply)
    # Bodyless actions need no Content-Type: they reach the run lookup.
    status, reply = raw_post(api, f"/runs/{MISSING_RUN}/cancel", b"", {})
    assert (status, reply["code"]) == (404, "run_not_found"), reply


# -- a client that leaves mid-body -----------------------------------------------------


def test_a_client_leaving_mid_body_is_one_quiet_log_line(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    host, port = api.base_url.removeprefix("http://").split(":")
    head = (
        f"POST /intents HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    before = table_counts(api)

    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode("ascii") + b'{"goal":"par')
    deadline = time.monotonic() + 30
    while not [r for r in caplog.records if "disconnect" in r.getMessage() or r.exc_info]:
        assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
        time.sleep(0.02)

    quiet = [r for r in caplog.records if "disconnect" in r.getMessage()]
    assert len(quiet) == 1 and quiet[0].levelno <= logging.INFO, quiet
    assert quiet[0].exc_info is None
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert loud == [], [r.getMessage() for r in loud]
    assert table_counts(api) == before


# -- the same rules in the models the UI calls -------------------------------------------


def _deep_dict(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"v": value}
    return value


MODEL_CASES: list[tuple[type[BaseModel], dict[str, Any], str]] = [
    (IntentCreate, {"goal": "a\x00b", "inputs": {}, "constraints": {}}, "goal"),
    (IntentCreate, {"goal": " \n\t", "inputs": {}, "constraints": {}}, "goal"),
    (IntentCreate, {"goal": "g", "inputs": {"k\x00": 1}, "constraints": {}}, "inputs"),
    (IntentCreate, {"goal": "g", "inputs": {"a": ["\x00"]}, "constraints": {}}, "inputs"),
    (IntentCreate, {"goal": "g", "inputs": {"v": float("inf")}, "constraints": {}}, "inputs"),
    (IntentCreate, {"goal": "g", "inputs": {"v": float("nan")}, "constraints": {}}, "inputs"),
    (
        IntentCreate,
        {"goal": "g", "inputs": _deep_dict(MAX_JSON_DEPTH), "constraints": {}},
        "inputs",
    ),
    (IntentCreate, {"goal": "g", "inputs": {"s": {1, 2}}, "constraints": {}}, "inputs"),
    (RunRequest, {"traceId": "\x00"}, "traceId"),
    (EventRequest, {"type": "input", "payload": {"a": {"b": "\x00"}}}, "payload"),
    (DocRunRequest, {"source": "\x00"}, "source"),
    (DocRunRequest, {"cmd": "/doc a\x00"}, "cmd"),
]


@pytest.mark.parametrize(("model", "data", "field"), MODEL_CASES)
def test_the_request_models_refuse_what_the_api_refuses(
    model: type[BaseModel], data: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(data)

    assert refused.value.errors()[0]["loc"][0] == field


def test_the_request_models_accept_inputs_at_the_maximum_depth() -> None:
    body = IntentCreate.model_validate(
        {"goal": "g", "inputs": _deep_dict(MAX_JSON_DEPTH - 1), "constraints": {"x": 1.5}}
    )

    assert body.inputs["v"]
