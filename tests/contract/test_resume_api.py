"""[API-7] Cancel and resume: a resumed run continues where it stopped."""

from __future__ import annotations

import time

from conftest import Api, q


def _wait_op(api: Api, workflow_id: str, name: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ops = api.client.get(f"/runs/{workflow_id}").json()["timeline"]
        if any(op["function_name"] == name for op in ops):
            return
        time.sleep(0.05)
    raise AssertionError(f"{workflow_id} never recorded {name}")


def _op_counts(api: Api, workflow_id: str) -> dict[str, int]:
    rows = api.sql(
        q(
            "SELECT function_name, count(*) AS n FROM dbos.operation_outputs "
            "WHERE workflow_uuid = '{wf}' GROUP BY function_name",
            wf=workflow_id,
        )
    )
    return {r["function_name"]: int(r["n"]) for r in rows}


def test_a_cancelled_document_run_resumes_without_repeating_its_steps(api: Api) -> None:
    run_id = api.client.post("/runs", json={"source": "resume me", "sleepMs": 1500}).json()[
        "run_id"
    ]
    _wait_op(api, run_id, "DBOS.sleep")

    cancelled = api.client.post(f"/runs/{run_id}/cancel")
    stopped = api.wait_status(run_id, "unknown")
    resumed = api.client.post(f"/runs/{run_id}/resume")
    done = api.wait_status(run_id, "done")

    assert cancelled.status_code == 202, cancelled.text
    assert stopped["dbos_status"] == "CANCELLED"
    assert (resumed.status_code, resumed.json()) == (202, {"run_id": run_id, "status": "running"})
    assert done["dbos_status"] == "SUCCESS"
    assert _op_counts(api, run_id) == {
        "prepare": 1,
        "DBOS.sleep": 1,
        "side-effect": 1,
        "finalize": 1,
    }


def test_a_cancelled_intent_run_resumes_and_keeps_its_steps_at_attempt_one(api: Api) -> None:
    intent_id = api.create_intent("slow resume")
    run_id = api.start(intent_id)["runId"]
    _wait_op(api, intent_id, "execute_node")  # the slow node runs for 2 s

    api.client.post(f"/runs/{run_id}/cancel")
    api.wait_status(run_id, "canceled")
    resumed = api.client.post(f"/runs/{run_id}/resume")
    view = api.wait_status(run_id, "succeeded")

    assert resumed.status_code == 202, resumed.text
    assert view["dbos_status"] == "SUCCESS"
    assert {s["stepId"]: s["attempt"] for s in view["steps"]} == {
        "CompileST": 1,
        "ApplyPatchST": 1,
        "DecideST": 1,
        "ExecuteST": 1,
    }
    duplicates = api.count("SELECT count(*) FROM app.mock_receipts WHERE seen_count > 1")
    assert duplicates == 0


def test_resuming_a_run_that_is_not_stopped_is_a_typed_409(api: Api) -> None:
    run_id = api.client.post("/runs", json={"source": "finished", "sleepMs": 0}).json()["run_id"]
    api.wait_status(run_id, "done")

    reply = api.client.post(f"/runs/{run_id}/resume")

    assert reply.status_code == 409, reply.text
    assert reply.json()["error"] == "run_not_resumable"
