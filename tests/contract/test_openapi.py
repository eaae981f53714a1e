"""Contract tests of `/openapi.json`: a valid OpenAPI 3.1 document that says what the API does.

The document is checked three ways: by a validator library, by walking every `$ref`
and every operation's responses, and by schemathesis against a real server on each
backend, which fails on any 5xx and on any status the document does not name.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import schemathesis
from openapi_spec_validator import validate
from schemathesis import engine
from schemathesis.engine import events

from conftest import Api, make_settings
from jejakekal.app import create_api_app
from jejakekal.domain.errors import ERROR_CODES

OPERATIONS_WITH_ID = {
    "/intents/{intent_id}/run": "intent_id",
    "/runs/{run_id}": "run_id",
    "/runs/{run_id}/events": "run_id",
    "/runs/{run_id}/retry": "run_id",
    "/runs/{run_id}/resume": "run_id",
    "/runs/{run_id}/cancel": "run_id",
    "/runs/{run_id}/export": "run_id",
    "/artifacts/{artifact_id}": "artifact_id",
    "/artifacts/{artifact_id}/download": "artifact_id",
}
ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


def call(tmp_path: Path, method: str, path: str, **env: str) -> httpx.Response:
    """One request to an API app in process: neither the document nor routing needs a kernel,
    so the app's lifespan (and with it the database) is never started."""
    settings = make_settings(f"sqlite:///{tmp_path / 'unused.sqlite'}", tmp_path / "home", **env)
    headers = {"Authorization": f"Bearer {env['JEJAKEKAL_API_TOKEN']}"} if env else {}

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_api_app(settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.request(method, path, headers=headers)

    return asyncio.run(send())


def document(tmp_path: Path, **env: str) -> dict[str, Any]:
    reply = call(tmp_path, "GET", "/openapi.json", **env)
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, item in doc["paths"].items() for m, op in item.items()]


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def resolve(doc: dict[str, Any], pointer: str) -> Any:
    assert pointer.startswith("#/"), pointer
    node: Any = doc
    for part in pointer[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def body_validator(doc: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    # The components ride along in the root, where the document's `#/components/...` points.
    schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    return jsonschema.Draft202012Validator(schema)


# -- the document itself ------------------------------------------------------------------


def test_openapi_document_validates_as_openapi_3_1(tmp_path: Path) -> None:
    doc = document(tmp_path)

    validate(doc)

    assert doc["openapi"].startswith("3.1")


def test_every_ref_in_the_openapi_document_resolves(tmp_path: Path) -> None:
    doc = document(tmp_path)

    dangling = []
    for pointer in refs(doc):
        try:
            resolve(doc, pointer)
        except (KeyError, AssertionError):
            dangling.append(pointer)

    assert dangling == []
    assert refs(doc), "the document uses components"


def test_every_error_status_is_documented_with_the_envelope_and_422_is_gone(
    tmp_path: Path,
) -> None:
    doc = document(tmp_path)

    for method, path, op in operations(doc):
        statuses = set(op["responses"])
        assert "422" not in statuses, (method, path)
        assert "421" in statuses, (method, path)
        assert "401" not in statuses, (method, path)  # no token configured
        if path in OPERATIONS_WITH_ID:
            assert {"400", "404"} <= statuses, (method, path)
        if method == "post":
            assert "415" in statuses, (method, path)
        if "requestBody" in op:
            assert {"400", "413"} <= statuses, (method, path)
        for status, response in op["responses"].items():
            if int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
            assert not status.startswith("5"), (method, path)
    error = doc["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "code", "message"]


def test_a_configured_token_is_documented_on_every_operation_but_healthz(
    tmp_path: Path,
) -> None:
    doc = document(tmp_path, JEJAKEKAL_API_TOKEN="s3cret")

    for method, path, op in operations(doc):
        if path == "/healthz":
            assert "401" not in op["responses"]
            assert op["security"] == []
        else:
            assert "401" in op["responses"], (method, path)
            assert op["security"] == [{"bearer": []}], (method, path)
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_every_error_code_is_documented_under_its_own_status(tmp_path: Path) -> None:
    doc = document(tmp_path, JEJAKEKAL_API_TOKEN="s3cret")
    status_of = {error.code: error.status for error in ERROR_CODES}

    documented: dict[str, set[int]] = {}
    for _, _, op in operations(doc):
        for status, response in op["responses"].items():
            for code in re.findall(r"`([a-z_]+)`", response["description"]):
                documented.setdefault(code, set()).add(int(status))

    assert set(documented) == set(status_of)
    misplaced = {c: s for c, s in documented.items() if s != {status_of[c]}}
    assert misplaced == {}


def test_ids_and_query_vocabularies_are_documented(tmp_path: Path) -> None:
    doc = document(tmp_path)

    for path, name in OPERATIONS_WITH_ID.items():
        for op in doc["paths"][path].values():
            (param,) = [p for p in op["parameters"] if p["name"] == name]
            assert param["schema"]["pattern"] == ID_PATTERN, path
    queries = {p["name"]: p["schema"] for p in doc["paths"]["/runs"]["get"]["parameters"]}
    assert "waiting_input" in queries["status"]["enum"]
    assert "done" in queries["status"]["enum"]
    assert queries["kind"]["enum"] == ["intent", "doc"]
    artifacts = {p["name"]: p["schema"] for p in doc["paths"]["/artifacts"]["get"]["parameters"]}
    assert artifacts["type"]["enum"] == [
        "raw", "docir", "chunk-index", "memo",
        "node-result", "stdout", "stderr", "out-file", "answer",
    ]  # fmt: skip
    assert artifacts["run_id"]["pattern"] == ID_PATTERN


def test_success_bodies_are_documented(tmp_path: Path) -> None:
    doc = document(tmp_path)

    def success(method: str, path: str, status: str) -> Any:
        schema = doc["paths"][path][method]["responses"][status]["content"]["application/json"]
        return resolve(doc, schema["schema"]["$ref"])

    assert success("post", "/intents", "201")["required"] == ["intentId"]
    assert success("post", "/intents/{intent_id}/run", "202")["required"] == [
        "runId",
        "workflowId",
    ]
    assert success("post", "/runs", "202")["required"] == ["run_id", "status"]
    assert "nextAction" in success("get", "/runs/{run_id}", "200")["required"]


def test_doc_run_body_takes_exactly_one_of_source_and_cmd(tmp_path: Path) -> None:
    doc = document(tmp_path)
    body = body_validator(doc, "DocRunRequest")

    assert body.is_valid({"source": "a document"})
    assert body.is_valid({"cmd": "/doc a document", "source": None})
    assert not body.is_valid({})
    assert not body.is_valid({"source": "a", "cmd": "/doc b"})
    assert not body.is_valid({"cmd": "no command"})
    run = body_validator(doc, "RunRequest")
    assert run.is_valid({"workload": {"concurrency": 1, "steps": 1, "sandboxMinutes": 1}})
    assert not run.is_valid({"workload": {"concurrency": 0, "steps": 1, "sandboxMinutes": 1}})


# -- what the server answers --------------------------------------------------------------


def test_405_names_every_method_the_path_allows(tmp_path: Path) -> None:
    runs = call(tmp_path, "PUT", "/runs")
    health = call(tmp_path, "DELETE", "/healthz")

    assert runs.status_code == 405
    assert runs.json()["code"] == "method_not_allowed"
    assert set(runs.headers["allow"].split(", ")) == {"GET", "POST"}
    assert health.status_code == 405
    assert set(health.headers["allow"].split(", ")) == {"GET"}


# Fixed seed, deterministic generation and a bounded number of examples per operation:
# the same few hundred requests every run, in well under a minute per backend.
SCHEMATHESIS = {
    "seed": 20,
    "generation": {
        "mode": "all",
        "max-examples": 8,
        "deterministic": True,
        "database": "none",
    },
    "phases": {
        "examples": {"enabled": True},
        "coverage": {"enabled": True},
        "fuzzing": {"enabled": True},
        "stateful": {"enabled": False},
    },
    "checks": {
        "enabled": False,
        "not_a_server_error": {"enabled": True},
        "status_code_conformance": {"enabled": True},
        "unsupported_method": {"enabled": True},
        "response_schema_conformance": {"enabled": True},
        "content_type_conformance": {"enabled": True},
    },
}


def fuzz(base_url: str) -> tuple[set[str], int, list[str]]:
    """Run schemathesis' engine (as its CLI does) against a server.

    Its pytest plugin does not run under pytest 9, so the engine's events are read here:
    the operations it tested, the requests it sent, and every failed check or error.
    """
    config = schemathesis.Config.from_dict(SCHEMATHESIS)
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=config)
    tested: set[str] = set()
    requests = 0
    failures: list[str] = []
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished) and event.label:
            tested.add(event.label)
            recorder = event.recorder
            requests += len(recorder.interactions)
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.failure_info is not None:
                        request = recorder.interactions[case_id].request
                        failures.append(
                            f"{recorder.label} [{check.name}] {request.method} {request.uri}: "
                            f"{check.failure_info.failure.title}"
                        )
        elif isinstance(event, events.NonFatalError | events.FatalError):
            failures.append(f"engine error: {event!r}")
    return tested, requests, failures


def test_schemathesis_finds_no_server_error_and_no_undocumented_status(api: Api) -> None:
    expected = {
        f"{method.upper()} {path}"
        for method, path, _ in operations(api.client.get("/openapi.json").json())
    }

    tested, requests, failures = fuzz(api.base_url)

    assert failures == []
    assert tested == expected
    assert requests > 10 * len(expected)
