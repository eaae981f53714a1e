"""Traces of workflows and steps over OTLP (issue 25, ADR 0016).

A loopback collector on 127.0.0.1 receives what DBOS's exporter posts to /v1/traces and
decodes it with the OTLP protobuf definitions; the runs' steps in SQL are the oracle of
which spans must be there. The tracer provider is process-wide (OpenTelemetry allows
one), so every test of this module points at the same collector.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

import loopback
from conftest import Api, make_settings, serve_app_in_thread, served_api
from jejakekal.app import create_api_app
from jejakekal.bootstrap import build_kernel
from jejakekal.config import InvalidSetting, load_settings

RUN_ID, STEP, ATTEMPT = "jejakekal.run_id", "jejakekal.step", "jejakekal.attempt"
WORKFLOW_ID = "dbos.operation.workflow_id"


@dataclass(frozen=True)
class Span:
    name: str
    span_id: bytes
    trace_id: bytes
    parent_span_id: bytes
    attributes: dict[str, Any]


class Collector:
    """What an OTLP/HTTP collector received, one entry per span (an exporter added by an
    earlier kernel of this process sends the same span again: kept once)."""

    def __init__(self) -> None:
        self.url = ""
        self._spans: dict[bytes, Span] = {}
        self._lock = threading.Lock()

    def receive(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        with self._lock:
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    for s in scope.spans:
                        attributes = {a.key: _value(a.value) for a in s.attributes}
                        self._spans[s.span_id] = Span(
                            s.name, s.span_id, s.trace_id, s.parent_span_id, attributes
                        )

    def of_run(self, run_id: str) -> list[Span]:
        with self._lock:
            return [s for s in self._spans.values() if s.attributes.get(RUN_ID) == run_id]


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    received = Collector()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/v1/traces":
                received.receive(body)
                self.send_response(200)
            else:
                self.send_response(404)
            reply = ExportTraceServiceResponse().SerializeToString()
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with loopback.serve(Handler) as url:
        received.url = url
        yield received


def by_name(spans: list[Span]) -> dict[str, list[Span]]:
    named: dict[str, list[Span]] = {}
    for span in spans:
        named.setdefault(span.name, []).append(span)
    return named


def step_attempts(spans: list[Span]) -> dict[str, list[int]]:
    """Each step span's (name, attempt), the attempts of a name sorted."""
    return {
        name: sorted(s.attributes[ATTEMPT] for s in group)
        for name, group in by_name(spans).items()
        if all(STEP in s.attributes for s in group)
    }


def recorded_steps(api: Api, run_id: str) -> set[str]:
    rows = api.sql(f"SELECT step_id FROM app.run_steps WHERE run_id = '{run_id}'")
    return {str(r["step_id"]) for r in rows}


def flaky_intent_run(api: Api) -> dict[str, Any]:
    """An intent run of two nodes whose ExecuteST fails its first attempt (`flaky`)."""
    body = {"workload": {"concurrency": 2, "steps": 2, "sandboxMinutes": 1}}
    started = api.start(api.create_intent("flaky job"), body)
    view = api.wait_status(started["runId"], "succeeded", "failed", "retries_exceeded")
    assert view["status"] == "succeeded", view
    return view


def doc_run(api: Api) -> str:
    reply = api.client.post("/runs", json={"source": "alpha\nbeta", "sleepMs": 1})
    assert reply.status_code == 202, reply.text
    run_id = str(reply.json()["run_id"])
    assert api.wait_status(run_id, "done", "error")["status"] == "done"
    return run_id


# -- the setting ------------------------------------------------------------------------


def test_the_endpoint_gets_the_traces_path_unless_it_names_one() -> None:
    def traces_url(value: str) -> str | None:
        return load_settings({"JEJAKEKAL_OTLP_ENDPOINT": value}).otlp_traces_url

    assert load_settings({}).otlp_traces_url is None
    assert traces_url("http://127.0.0.1:4318") == "http://127.0.0.1:4318/v1/traces"
    assert traces_url("http://127.0.0.1:4318/") == "http://127.0.0.1:4318/v1/traces"
    assert (
        traces_url("https://otel.example:443/x/v1/traces") == "https://otel.example:443/x/v1/traces"
    )
    for bad in ("127.0.0.1:4318", "ftp://h:1", "http://", "http://h:99999"):
        with pytest.raises(InvalidSetting, match="JEJAKEKAL_OTLP_ENDPOINT"):
            traces_url(bad)


# -- runs in one process ---------------------------------------------------------------


def test_runs_export_a_span_per_workflow_and_step_naming_run_step_and_attempt(
    database_url: str, tmp_path: Path, collector: Collector
) -> None:
    settings = make_settings(database_url, tmp_path / "home", JEJAKEKAL_OTLP_ENDPOINT=collector.url)
    with served_api(settings) as api:
        intent = flaky_intent_run(api)
        doc_id = doc_run(api)
        intent_steps = recorded_steps(api, intent["runId"])
        doc_steps = recorded_steps(api, doc_id) - {"DBOS.sleep"}
    # The server's shutdown closed the kernel, which flushed the batched spans.

    spans = collector.of_run(intent["runId"])
    named = by_name(spans)
    (workflow,) = named["run_intent"]
    assert workflow.attributes[WORKFLOW_ID] == intent["workflowId"]
    assert STEP not in workflow.attributes
    assert len(named["execute_node"]) == 2
    assert step_attempts(spans) == {
        "CompileST": [1],
        "ApplyPatchST": [1],
        "DecideST": [1],
        "ExecuteST": [2, 2],  # each node's first attempt failed on purpose
    }
    assert set(step_attempts(spans)) == intent_steps
    assert all(s.attributes[STEP] == s.name for s in spans if STEP in s.attributes)
    # Each step hangs under its workflow: the run's own, or its node's (a queued child
    # workflow starts a trace of its own).
    parents = {s.span_id: s.name for s in spans}
    assert {(s.name, parents.get(s.parent_span_id)) for s in spans if STEP in s.attributes} == {
        ("CompileST", "run_intent"),
        ("ApplyPatchST", "run_intent"),
        ("DecideST", "run_intent"),
        ("ExecuteST", "execute_node"),
    }

    doc_spans = collector.of_run(doc_id)
    (doc_workflow,) = by_name(doc_spans)["doc_ingest"]
    assert doc_workflow.attributes[WORKFLOW_ID] == doc_id
    assert step_attempts(doc_spans) == {step: [1] for step in doc_steps}
    assert {s.parent_span_id for s in doc_spans if s is not doc_workflow} == {doc_workflow.span_id}


def test_without_an_endpoint_a_process_builds_no_tracer_and_exports_nothing(
    database_url: str, tmp_path: Path
) -> None:
    # A fresh process: this one's tracer provider may be set by another test already.
    script = """
import sys
import time
from opentelemetry import trace
from jejakekal.bootstrap import build_kernel, dbos_config
from jejakekal.config import load_settings
from jejakekal.domain.contracts import DocRunRequest

settings = load_settings()
kernel = build_kernel(settings, "full")
assert not {k for k in dbos_config(settings, kernel.db) if "otlp" in k or "otel" in k}
run_id = kernel.control.start_doc_run(DocRunRequest(source="alpha", sleepMs=1)).run_id
deadline = time.monotonic() + 60
while kernel.control.run_view(run_id).status != "done" and time.monotonic() < deadline:
    time.sleep(0.05)
assert kernel.control.run_view(run_id).status == "done"
kernel.close()
built = ("opentelemetry.sdk", "opentelemetry.exporter")
loaded = sorted(m for m in sys.modules if m.startswith(built))
print(type(trace.get_tracer_provider()).__name__, loaded)
"""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("JEJAKEKAL_")},
        "JEJAKEKAL_HOME": str(tmp_path / "home"),
        "JEJAKEKAL_DATABASE_URL": database_url,
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ProxyTracerProvider []"


# -- split mode --------------------------------------------------------------------------


def test_a_shim_queues_runs_that_its_worker_traces(
    database_url: str, tmp_path: Path, collector: Collector
) -> None:
    settings = make_settings(database_url, tmp_path / "home", JEJAKEKAL_OTLP_ENDPOINT=collector.url)
    worker = build_kernel(settings, "worker")
    server, thread, port = serve_app_in_thread(create_api_app(settings, "shim"))
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            api = Api(f"http://127.0.0.1:{port}", client, settings)
            assert client.get("/healthz").json()["role"] == "shim"
            intent = flaky_intent_run(api)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        worker.close()

    spans = collector.of_run(intent["runId"])
    assert step_attempts(spans)["ExecuteST"] == [2, 2]
    assert {s.attributes["dbos.executor.id"] for s in spans} == {worker.settings.executor_id}
