"""Every 409 about a run names it (`run_id`), however the request addressed the run.

Each test runs on SQLite and on PostgreSQL against a real server. Runs are addressed by
their workflow id where they have a different one (intent runs), so the answer's
`run_id` is proven to be the run's own id, not an echo of the path.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from conftest import Api

FINISHED_INTENT_ACTIONS = {
    "resume": ("resume", None, "run_not_resumable"),
    "retry": ("retry", None, "run_not_retryable"),
    "cancel": ("cancel", None, "run_not_cancelable"),
    "event": ("events", {"type": "input", "payload": {"answer": "late"}}, "event_not_expected"),
}


def conflict(reply: httpx.Response, code: str) -> dict[str, Any]:
    assert reply.status_code == 409, reply.text
    body: dict[str, Any] = reply.json()
    assert (body["error"], body["code"]) == (code, code)
    return body


@pytest.mark.parametrize("action", sorted(FINISHED_INTENT_ACTIONS))
def test_a_refused_action_on_a_finished_intent_run_names_the_run(api: Api, action: str) -> None:
    path, body, code = FINISHED_INTENT_ACTIONS[action]
    intent_id = api.create_intent("demo chain")
    run_id = api.start(intent_id)["runId"]
    api.wait_status(run_id, "succeeded")

    reply = api.client.post(f"/runs/{intent_id}/{path}", json=body)

    answer = conflict(reply, code)
    assert answer["run_id"] == run_id
    assert answer["status"] == "succeeded"


def test_a_different_body_for_a_started_intent_names_the_existing_run(api: Api) -> None:
    intent_id = api.create_intent("idempotency demo")
    first = api.start(intent_id, {"traceId": "one"})

    reply = api.client.post(f"/intents/{intent_id}/run", json={"traceId": "other"})

    answer = conflict(reply, "run_payload_mismatch")
    assert (answer["run_id"], answer["workflow_id"]) == (first["runId"], intent_id)


def test_a_different_payload_for_a_taken_workflow_id_names_the_run(api: Api) -> None:
    started = api.client.post("/runs", json={"source": "one", "workflowId": "doc-named"})
    assert started.status_code == 202, started.text

    reply = api.client.post("/runs", json={"source": "two", "workflowId": "doc-named"})

    answer = conflict(reply, "workflow_id_payload_mismatch")
    assert (answer["run_id"], answer["workflow_id"]) == ("doc-named", "doc-named")
