"""Human gates through the HTTP API: bad gates and bad answers write nothing, answers are
deduplicated and raced safely, actors and origins are recorded, the inbox lists what waits,
gates escalate, time out and open in order, bundles carry the ledger, and a cancel frees
a waiting run's thread. SQL is the oracle, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Api, make_settings, q, served_api

STEPS = ["CompileST", "ApplyPatchST", "DecideST", "ExecuteST"]
TEXT = {"type": "text", "max_length": 5}
POINT = {
    "type": "json",
    "schema": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}},
}


def assert_error(reply: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    body: dict[str, Any] = reply.json()
    assert (body.get("error"), body.get("code")) == (code, code), body
    assert body.get("message"), body
    return body


def gated_intent(api: Api, gates: Any) -> str:
    body = {"goal": "gated", "inputs": {"commands": ["echo ok"], "gates": gates}, "constraints": {}}
    reply = api.client.post("/intents", json=body)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["intentId"])


def gated_run(api: Api, gates: list[dict[str, Any]]) -> str:
    return str(api.start(gated_intent(api, gates), {"recipeName": "script"})["runId"])


def waiting_run(api: Api, gates: list[dict[str, Any]]) -> str:
    run_id = gated_run(api, gates)
    api.wait_status(run_id, "waiting_input", timeout=60)
    return run_id


def answer(api: Api, run_id: str, key: str, body: Any, **headers: str) -> httpx.Response:
    return api.client.post(f"/runs/{run_id}/gates/{key}", json=body, headers=headers)


def notifications(api: Api) -> int:
    table = "notifications" if api.is_sqlite else "dbos.notifications"
    return api.count(f"SELECT COUNT(*) AS n FROM {table}")


def writes(api: Api, run_id: str) -> dict[str, Any]:
    """What an answer could write: ledger rows, the gates' statuses, DBOS messages, the
    run's status."""
    gates = api.sql(
        q("SELECT id, status FROM app.gates WHERE run_id = '{r}' ORDER BY id", r=run_id)
    )
    return {
        "ledger": api.count("SELECT COUNT(*) AS n FROM app.gate_ledger"),
        "gates": [(g["id"], g["status"]) for g in gates],
        "notifications": notifications(api),
        "run": api.sql(q("SELECT status FROM app.runs WHERE id = '{r}'", r=run_id))[0]["status"],
    }


def gate_row(api: Api, run_id: str, key: str) -> dict[str, Any]:
    rows = api.sql(
        q("SELECT * FROM app.gates WHERE run_id = '{r}' AND gate_key = '{k}'", r=run_id, k=key)
    )
    assert len(rows) == 1, rows
    return rows[0]


def stored(api: Api, value: Any) -> Any:
    """A JSON column as read: text on SQLite, decoded already on PostgreSQL."""
    return json.loads(value) if api.is_sqlite else value


def ledger(api: Api, run_id: str) -> list[dict[str, Any]]:
    return api.sql(
        q("SELECT * FROM app.gate_ledger WHERE run_id = '{r}' ORDER BY at, id", r=run_id)
    )


def gate_is_open(api: Api, run_id: str, key: str) -> bool:
    gates = api.client.get(f"/runs/{run_id}").json()["gates"]
    return any(g["key"] == key and g["status"] == "open" for g in gates)


def wait_for(what: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"never {what}")


def release(api: Api, *run_ids: str) -> None:
    """Cancel runs a test leaves waiting, so no worker thread of this process stays parked."""
    for run_id in run_ids:
        api.client.post(f"/runs/{run_id}/cancel")


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


# -- gates declared wrong: 400 naming the field, nothing written ------------------------

GO = {"key": "go", "question": "Run?"}
BAD_GATES = [
    pytest.param([{"key": "Go", "question": "Run?"}], "inputs.gates.0.key", id="bad-key"),
    pytest.param([{"key": "go", "question": "   "}], "inputs.gates.0.question", id="blank"),
    pytest.param(
        [{**GO, "timeout_s": 2, "on_timeout": {"default": "maybe"}}],
        "inputs.gates.0.on_timeout.default",
        id="default-not-a-choice",
    ),
    pytest.param(
        [{**GO, "timeout_s": 2, "escalate_after_s": 2}], "inputs.gates.0", id="late-escalation"
    ),
    pytest.param([GO, {"key": "go", "question": "Again?"}], "inputs.gates", id="twice"),
    pytest.param([{"key": "plan", "question": "Mine?"}], "inputs.gates", id="reserved"),
    pytest.param(
        [{"key": f"g{i}", "question": "Run?"} for i in range(9)], "inputs.gates", id="nine"
    ),
    pytest.param({"key": "go"}, "inputs.gates", id="not-a-list"),
]


@pytest.mark.parametrize(("gates", "field"), BAD_GATES)
def test_a_script_with_invalid_gates_is_refused_naming_the_field_and_writes_nothing(
    api: Api, gates: Any, field: str
) -> None:
    intent_id = gated_intent(api, gates)
    tables = ("app.runs", "app.gates", "app.gate_ledger")
    before = [api.count(f"SELECT COUNT(*) AS n FROM {t}") for t in tables]

    reply = api.client.post(f"/intents/{intent_id}/run", json={"recipeName": "script"})

    body = assert_error(reply, 400, "invalid_run_request")
    assert body["field"] == field, body
    assert field in body["message"], body
    assert [api.count(f"SELECT COUNT(*) AS n FROM {t}") for t in tables] == before


# -- answers that do not fit: 400, nothing written --------------------------------------


def test_answers_that_do_not_fit_are_refused_and_write_nothing(api: Api) -> None:
    choice = gated_run(api, [GO])
    text = gated_run(api, [{"key": "note", "question": "Say?", "answer": TEXT}])
    point = gated_run(api, [{"key": "point", "question": "Where?", "answer": POINT}])
    for run_id in (choice, text, point):
        api.wait_status(run_id, "waiting_input", timeout=60)
    bad: list[tuple[str, str, Any, dict[str, str], str]] = [
        (choice, "go", {"answer": "maybe"}, {}, "invalid_answer"),
        (choice, "go", {"answer": ["approve"]}, {}, "invalid_answer"),
        (choice, "go", {}, {}, "invalid_answer"),
        (choice, "go", {"answer": "approve", "extra": 1}, {}, "invalid_answer"),
        (choice, "go", {"answer": "approve", "dedupeKey": ""}, {}, "invalid_answer"),
        (choice, "go", "approve", {}, "invalid_answer"),
        (choice, "Go", {"answer": "approve"}, {}, "invalid_answer"),
        (choice, "go", {"answer": "approve"}, {"X-Actor": "a" * 200}, "invalid_actor"),
        (choice, "go", {"answer": "approve"}, {"X-Actor": "a\tb"}, "invalid_actor"),
        (choice, "go", {"answer": "approve"}, {"X-Actor": ""}, "invalid_actor"),
        (choice, "go", {"answer": "approve"}, {"X-Origin": "system"}, "invalid_actor"),
        (choice, "go", {"answer": "approve"}, {"X-Origin": "web"}, "invalid_actor"),
        (text, "note", {"answer": "toolong"}, {}, "invalid_answer"),
        (text, "note", {"answer": "   "}, {}, "invalid_answer"),
        (text, "note", {"answer": 5}, {}, "invalid_answer"),
        (point, "point", {"answer": {"n": "x"}}, {}, "invalid_answer"),
        (point, "point", {"answer": {}}, {}, "invalid_answer"),
        (point, "point", {"answer": "n"}, {}, "invalid_answer"),
    ]

    for run_id, key, body, headers, code in bad:
        before = writes(api, run_id)
        reply = answer(api, run_id, key, body, **headers)
        assert_error(reply, 400, code)
        assert writes(api, run_id) == before, (key, body, headers)
        assert before["run"] == "waiting_input"
        assert [s for _, s in before["gates"]] == ["open"]
    assert api.count("SELECT COUNT(*) AS n FROM app.gate_ledger WHERE kind = 'answered'") == 0
    release(api, choice, text, point)


# -- dedupe, settled gates, gates not open ----------------------------------------------


def test_a_repeated_answer_is_a_duplicate_and_a_different_one_conflicts(api: Api) -> None:
    run_id = waiting_run(api, [{"key": "note", "question": "Say?", "answer": TEXT}])
    first = answer(api, run_id, "note", {"answer": "yes", "dedupeKey": "k-1"})
    assert first.status_code == 202, first.text
    api.wait_status(run_id, "succeeded", timeout=60)
    before = writes(api, run_id)

    again = answer(api, run_id, "note", {"answer": "yes", "dedupeKey": "k-1"})
    reused = answer(api, run_id, "note", {"answer": "no", "dedupeKey": "k-1"})
    other = answer(api, run_id, "note", {"answer": "no"})

    assert first.json()["duplicate"] is False
    assert again.status_code == 202, again.text
    assert again.json()["duplicate"] is True
    assert again.json()["answeredAt"] == first.json()["answeredAt"]
    assert again.json()["answer"] == "yes"
    assert_error(reused, 409, "dedupe_key_reused")
    message = assert_error(other, 409, "gate_already_answered")["message"]
    assert "'note'" in message and first.json()["answeredAt"] in message
    assert writes(api, run_id) == before
    assert [r["kind"] for r in ledger(api, run_id)] == ["opened", "answered"]


def test_a_gate_that_is_not_open_or_a_run_that_does_not_exist_is_refused(api: Api) -> None:
    run_id = waiting_run(api, [GO])
    before = writes(api, run_id)

    wrong_key = answer(api, run_id, "nope", {"answer": "approve"})
    no_run = answer(api, "run-does-not-exist", "go", {"answer": "approve"})

    body = assert_error(wrong_key, 409, "gate_not_open")
    assert "'nope'" in body["message"]
    assert no_run.status_code == 404, no_run.text
    assert no_run.json()["code"] == "run_not_found"
    assert writes(api, run_id) == before
    release(api, run_id)


def test_of_twenty_racing_answers_exactly_one_is_accepted(api: Api) -> None:
    run_id = waiting_run(api, [{"key": "note", "question": "Say?", "answer": TEXT}])
    start = threading.Barrier(20)
    replies: list[httpx.Response] = []

    def send(i: int) -> None:
        with httpx.Client(base_url=api.base_url, timeout=60) as client:
            start.wait()
            replies.append(client.post(f"/runs/{run_id}/gates/note", json={"answer": f"a{i}"}))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    view = api.wait_status(run_id, "succeeded", "failed", timeout=60)

    statuses = sorted(r.status_code for r in replies)
    assert statuses == [202] + [409] * 19, [r.text for r in replies]
    accepted = next(r.json() for r in replies if r.status_code == 202)
    for reply in replies:
        if reply.status_code == 409:
            assert_error(reply, 409, "gate_already_answered")
    answered = [r for r in ledger(api, run_id) if r["kind"] == "answered"]
    assert len(answered) == 1
    assert view["status"] == "succeeded"
    assert stored(api, gate_row(api, run_id, "note")["answer"]) == accepted["answer"]
    assert view["gates"][0]["answer"] == accepted["answer"]


# -- actors and origins -----------------------------------------------------------------


def test_the_actor_and_origin_are_recorded_and_default_to_anonymous_api(api: Api) -> None:
    run_id = waiting_run(api, [GO, {"key": "next", "question": "And?"}])

    named = answer(api, run_id, "go", {"answer": "approve"}, **{"X-Actor": "ana"})
    wait_for("the second gate opens", lambda: gate_is_open(api, run_id, "next"))
    unnamed = answer(api, run_id, "next", {"answer": "approve"}, **{"X-Origin": "cli"})
    api.wait_status(run_id, "succeeded", timeout=60)

    assert (named.json()["actor"], named.json()["origin"]) == ("ana", "api")
    assert (unnamed.json()["actor"], unnamed.json()["origin"]) == ("anonymous", "cli")
    rows = [(r["gate_key"], r["actor"], r["origin"]) for r in ledger(api, run_id)]
    assert [r for r in rows if r[1] is not None] == [
        ("go", "ana", "api"),
        ("next", "anonymous", "cli"),
    ]
    assert (gate_row(api, run_id, "go")["actor"], gate_row(api, run_id, "go")["origin"]) == (
        "ana",
        "api",
    )
    assert gate_row(api, run_id, "next")["origin"] == "cli"


def test_with_an_api_token_the_actor_defaults_to_token(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path / "home", JEJAKEKAL_API_TOKEN="s3cret-token")
    with served_api(settings) as api:
        api.client.headers["Authorization"] = "Bearer s3cret-token"
        run_id = waiting_run(api, [GO])

        reply = answer(api, run_id, "go", {"answer": "approve"})
        api.wait_status(run_id, "succeeded", timeout=60)

        assert reply.status_code == 202, reply.text
        assert reply.json()["actor"] == "token"
        assert gate_row(api, run_id, "go")["actor"] == "token"


# -- walkthrough E, with the gate it opens ----------------------------------------------


def test_walkthrough_e_answers_the_input_gate_through_events(api: Api) -> None:
    intent_id = api.create_intent("ask user")
    run_id = str(api.start(intent_id)["runId"])
    api.wait_status(run_id, "waiting_input", timeout=60)

    reply = api.client.post(
        f"/runs/{run_id}/events", json={"type": "input", "payload": {"answer": "42"}}
    )
    done = api.wait_status(run_id, "succeeded", "failed", timeout=60)

    assert reply.status_code == 202, reply.text
    assert done["status"] == "succeeded"
    assert [s["stepId"] for s in done["steps"]] == STEPS
    row = gate_row(api, run_id, "input")
    assert (row["status"], row["origin"], row["actor"]) == ("answered", "api", "anonymous")
    assert [r["kind"] for r in ledger(api, run_id)] == ["opened", "answered"]


# -- the inbox --------------------------------------------------------------------------


def test_the_inbox_lists_open_gates_until_they_are_answered(api: Api) -> None:
    run_id = waiting_run(api, [{**GO, "timeout_s": 600}])

    listed = api.client.get("/gates")
    answered = answer(api, run_id, "go", {"answer": "approve"})
    api.wait_status(run_id, "succeeded", timeout=60)
    after = api.client.get("/gates")
    closed = api.client.get("/gates", params={"status": "answered"})
    bogus = api.client.get("/gates", params={"status": "bogus"})

    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    assert (item["runId"], item["key"], item["question"], item["goal"]) == (
        run_id,
        "go",
        "Run?",
        "gated",
    )
    assert item["status"] == "open"
    assert (when(item["deadlineAt"]) - when(item["openedAt"])).total_seconds() == pytest.approx(
        600, abs=1
    )
    assert answered.status_code == 202, answered.text
    assert after.json()["items"] == []
    assert [(i["runId"], i["status"]) for i in closed.json()["items"]] == [(run_id, "answered")]
    assert bogus.status_code == 400, bogus.text


# -- escalation and timeout -------------------------------------------------------------


def test_a_gate_escalates_then_times_out_and_rejects(api: Api) -> None:
    gate = {**GO, "timeout_s": 3, "escalate_after_s": 1, "on_timeout": "reject"}
    run_id = gated_run(api, [gate])

    view = api.wait_status(run_id, "failed", "succeeded", timeout=60)

    assert view["status"] == "failed"
    assert view["error"] == "gate 'go' rejected on timeout after 3s"
    assert [r["kind"] for r in ledger(api, run_id)] == ["opened", "escalated", "timed_out"]
    [shown] = view["gates"]
    assert shown["escalatedAt"] is not None
    assert when(shown["openedAt"]) < when(shown["escalatedAt"]) < when(shown["deadlineAt"])
    assert gate_row(api, run_id, "go")["escalated_at"] is not None


# -- gates in order ---------------------------------------------------------------------


def test_gates_open_in_order_and_execute_starts_after_the_last(api: Api) -> None:
    run_id = waiting_run(api, [GO, {"key": "next", "question": "And?"}])
    before = writes(api, run_id)

    early = answer(api, run_id, "next", {"answer": "approve"})
    assert_error(early, 409, "gate_not_open")
    assert writes(api, run_id) == before
    first = answer(api, run_id, "go", {"answer": "approve"})
    assert first.status_code == 202, first.text
    wait_for("the second gate opens", lambda: gate_is_open(api, run_id, "next"))
    between = api.client.get(f"/runs/{run_id}").json()
    second = answer(api, run_id, "next", {"answer": "approve"})
    done = api.wait_status(run_id, "succeeded", "failed", timeout=60)

    assert between["status"] == "waiting_input"
    assert "ExecuteST" not in [s["stepId"] for s in between["steps"]]
    assert second.status_code == 202, second.text
    assert done["status"] == "succeeded"
    execute = next(s for s in done["steps"] if s["stepId"] == "ExecuteST")
    assert when(execute["startedAt"]) >= when(second.json()["answeredAt"])


# -- the export bundle ------------------------------------------------------------------


def test_the_bundle_carries_the_gate_ledger(api: Api) -> None:
    run_id = waiting_run(api, [GO])
    reply = answer(
        api, run_id, "go", {"answer": "approve", "dedupeKey": "d-1"}, **{"X-Actor": "ana"}
    )
    assert reply.status_code == 202, reply.text
    api.wait_status(run_id, "succeeded", timeout=60)

    exported = api.client.get(f"/runs/{run_id}/export")

    assert exported.status_code == 200, exported.text
    tool_io = json.loads((Path(exported.json()["run_bundle_path"]) / "tool-io.json").read_text())
    rows = [
        (r["gate_key"], r["kind"], r["actor"], r["origin"], r["dedupe_key"])
        for r in tool_io["gates"]
    ]
    assert rows == [("go", "opened", None, None, None), ("go", "answered", "ana", "api", "d-1")]


# -- a cancel frees the waiting thread --------------------------------------------------


def threads_in_recv(workflow_id: str) -> int:
    """Threads of this process blocked in DBOS `recv` for `workflow_id` (the `api`
    fixture's workers run here; other tests' parked runs may wait in it too)."""
    count = 0
    for frame in sys._current_frames().values():
        walk: Any = frame
        while walk is not None:
            code = walk.f_code
            if code.co_name == "recv" and code.co_filename.endswith("_sys_db.py"):
                count += walk.f_locals.get("workflow_uuid") == workflow_id
                break
            walk = walk.f_back
    return count


def test_a_cancelled_waiting_run_frees_its_thread_and_waits_again_on_resume(api: Api) -> None:
    run_id = waiting_run(api, [GO])
    workflow_id = api.sql(q("SELECT workflow_id FROM app.runs WHERE id = '{r}'", r=run_id))[0][
        "workflow_id"
    ]
    waiting = wait_for("a thread waits in recv", lambda: threads_in_recv(workflow_id))
    gate_id = gate_row(api, run_id, "go")["id"]

    canceled = api.client.post(f"/runs/{run_id}/cancel")
    wait_for("the thread leaves recv", lambda: threads_in_recv(workflow_id) == 0, timeout=5)
    api.wait_status(run_id, "canceled", timeout=30)
    resumed = api.client.post(f"/runs/{run_id}/resume")
    api.wait_status(run_id, "waiting_input", timeout=60)
    still = gate_row(api, run_id, "go")
    reply = answer(api, run_id, "go", {"answer": "approve"})
    done = api.wait_status(run_id, "succeeded", "failed", timeout=60)

    assert waiting == 1
    assert canceled.status_code == 202, canceled.text
    assert resumed.status_code == 202, resumed.text
    assert (still["id"], still["status"]) == (gate_id, "open")
    assert reply.status_code == 202, reply.text
    assert done["status"] == "succeeded"
    assert [r["kind"] for r in ledger(api, run_id)] == ["opened", "answered"]
