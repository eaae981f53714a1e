"""Human gates in the web UI: the gate's form on the run page and in the inbox, the answer
read as the gate's schema says, and who answered from where. The UI runs in front of the
in-process client and, in split mode, in front of a real API server; SQL is the oracle,
on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from test_web import Ui, one, select, serve_ui

from conftest import Api
from jejakekal.bootstrap import Kernel
from jejakekal.domain.contracts import IntentCreate, RunRequest
from jejakekal.web import HttpClient, InProcessClient

GO = {"key": "go", "question": "Run echo on the host?"}
Start = Callable[[str, dict[str, Any], str | None], str]


@dataclass
class GateUi:
    """The UI and a way to start a run with given inputs, in either mode."""

    ui: Ui
    start: Start

    def gated(self, *gates: dict[str, Any], recipe: str = "script") -> str:
        inputs = {"commands": ["echo ok"], "gates": list(gates)}
        return self.start("ship the release", inputs, recipe)

    def ledger(self, run_id: str, kind: str, where: str = "1=1") -> int:
        return self.ui.sql_count(
            "SELECT COUNT(*) FROM app.gate_ledger"
            f" WHERE run_id = '{run_id}' AND kind = '{kind}' AND {where}"
        )


def _in_process(kernel: Kernel) -> Start:
    def start(goal: str, inputs: dict[str, Any], recipe: str | None) -> str:
        intent = IntentCreate(goal=goal, inputs=inputs, constraints={})
        intent_id = kernel.control.create_intent(intent)
        return kernel.control.start_intent_run(intent_id, RunRequest(recipeName=recipe)).run_id

    return start


def _over_http(api: Api) -> Start:
    def start(goal: str, inputs: dict[str, Any], recipe: str | None) -> str:
        created = api.client.post(
            "/intents", json={"goal": goal, "inputs": inputs, "constraints": {}}
        )
        assert created.status_code == 201, created.text
        body = {"recipeName": recipe} if recipe else {}
        return str(api.start(created.json()["intentId"], body)["runId"])

    return start


@pytest.fixture(params=["embedded", "split"])
def gate_ui(request: pytest.FixtureRequest, database_url: str) -> Iterator[GateUi]:
    """The UI on each backend (`database_url`), over the kernel or over the API."""
    if request.param == "embedded":
        kernel: Kernel = request.getfixturevalue("kernel")
        settings, client, start = (
            kernel.settings,
            InProcessClient(kernel.control),
            _in_process(kernel),
        )
    else:
        api: Api = request.getfixturevalue("api")
        client = HttpClient(api.base_url)
        settings, start = api.settings, _over_http(api)
    server, thread, port = serve_ui(settings, client)
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=30) as http:
        try:
            yield GateUi(Ui(base, http, settings), start)
        finally:
            server.should_exit = True
            thread.join(timeout=30)


def test_the_run_page_shows_the_gate_and_its_choice_buttons(gate_ui: GateUi) -> None:
    run_id = gate_ui.gated(GO)
    gate_ui.ui.wait_detail(run_id, "waiting_input", timeout=60)

    page = gate_ui.ui.http.get(f"/runs/{run_id}").text

    assert '<h3 id="run-goal" class="run-goal">ship the release</h3>' in page
    assert "Run echo on the host?</p>" in page
    form = one(page, "form", cls="gate-form")
    assert form["hx-post"] == f"/runs/{run_id}/gates/go"
    approve = one(page, "button", data_choice="approve")
    reject = one(page, "button", data_choice="reject")
    assert (approve["value"], reject["value"]) == ("approve", "reject")
    assert "action-danger" in reject["class"].split()
    assert one(page, "input", name="dedupeKey")["value"]
    one(page, "label", **{"for": one(page, "input", name="actor")["id"]})
    one(page, "label", **{"for": one(page, "textarea", name="reason")["id"]})
    assert '<span class="countdown">no deadline</span>' in page
    assert select(page, "form", id="answer-form") == [], "the input gate's text box is not shown"


def test_a_form_answer_records_origin_ui_and_the_typed_actor(gate_ui: GateUi) -> None:
    ui = gate_ui.ui
    run_id = gate_ui.gated(GO)
    ui.wait_detail(run_id, "waiting_input", timeout=60)
    key = one(ui.fragment(run_id), "input", name="dedupeKey")["value"]
    form = {"answer": "approve", "actor": "Ana Operator", "dedupeKey": key}

    first = ui.post(f"/runs/{run_id}/gates/go", form, token=ui.token())
    again = ui.post(f"/runs/{run_id}/gates/go", form, token=ui.token())

    assert first.status_code == 200, first.text
    assert again.status_code == 200, again.text  # a double click: the duplicate, not a 409
    assert gate_ui.ledger(run_id, "answered") == 1
    who = "actor = 'Ana Operator' AND origin = 'ui' AND answer IS NOT NULL"
    assert gate_ui.ledger(run_id, "answered", who) == 1
    done = ui.wait_detail(run_id, "succeeded", timeout=60)
    row = done.partition('class="gate-row gate-answered"')[2].partition("</tr>")[0]
    assert '<td class="gate-actor">Ana Operator</td>' in row
    assert '<td class="gate-origin">ui</td>' in row
    assert '<td class="gate-answer">approve</td>' in row
    one(done, "table", id="ledger")
    assert len(select(done, "tr", cls="ledger-row")) == 2  # opened, answered


def test_an_ask_goal_takes_a_json_object_and_bad_json_writes_nothing(gate_ui: GateUi) -> None:
    ui = gate_ui.ui
    run_id = gate_ui.start("please ask me first", {}, None)
    page = ui.wait_detail(run_id, "waiting_input", timeout=60)
    assert one(page, "form", cls="gate-form")["hx-post"] == f"/runs/{run_id}/gates/input"
    one(page, "textarea", name="answer", cls="json")
    one(page, "form", id="answer-form")  # release 2's text box still answers it

    bad = ui.post(f"/runs/{run_id}/gates/input", {"answer": "{not json"}, token=ui.token())

    assert bad.status_code == 400, bad.text
    assert "(invalid_answer)" in bad.text
    assert bad.headers["HX-Retarget"] == "#notice"
    assert gate_ui.ledger(run_id, "answered") == 0
    answered = "SELECT COUNT(*) FROM app.gates WHERE status <> 'open'"
    assert ui.sql_count(answered + f" AND run_id = '{run_id}'") == 0

    good = ui.post(
        f"/runs/{run_id}/gates/input", {"answer": '{"go": true}', "actor": "bo"}, token=ui.token()
    )

    assert good.status_code == 200, good.text
    ui.wait_detail(run_id, "succeeded", timeout=60)
    assert gate_ui.ledger(run_id, "answered", "actor = 'bo' AND origin = 'ui'") == 1


def test_a_text_gate_has_a_bounded_text_box(gate_ui: GateUi) -> None:
    ui = gate_ui.ui
    gate = {"key": "why", "question": "Why ship now?", "answer": {"type": "text", "max_length": 50}}
    run_id = gate_ui.gated(gate)
    page = ui.wait_detail(run_id, "waiting_input", timeout=60)
    assert one(page, "textarea", name="answer")["maxlength"] == "50"

    too_long = ui.post(f"/runs/{run_id}/gates/why", {"answer": "x" * 51}, token=ui.token())
    fits = ui.post(f"/runs/{run_id}/gates/why", {"answer": "the fix is ready"}, token=ui.token())

    assert too_long.status_code == 400, too_long.text
    assert fits.status_code == 200, fits.text
    ui.wait_detail(run_id, "succeeded", timeout=60)
    assert gate_ui.ledger(run_id, "answered", "actor = 'ui-user'") == 1


def test_a_gate_answer_needs_the_csrf_token(gate_ui: GateUi) -> None:
    ui = gate_ui.ui
    run_id = gate_ui.gated(GO)
    ui.wait_detail(run_id, "waiting_input", timeout=60)

    refused = ui.post(f"/runs/{run_id}/gates/go", {"answer": "approve"}, token=None)

    assert refused.status_code == 403
    assert gate_ui.ledger(run_id, "answered") == 0


def test_the_inbox_lists_an_open_gate_and_answers_it_in_place(gate_ui: GateUi) -> None:
    ui = gate_ui.ui
    run_id = gate_ui.gated({**GO, "timeout_s": 600})
    ui.wait_detail(run_id, "waiting_input", timeout=60)

    inbox = ui.http.get("/inbox")

    assert inbox.status_code == 200, inbox.text
    one(inbox.text, "a", id="nav-inbox", href="/inbox")
    one(inbox.text, "a", cls="gate-run-link", href=f"/runs/{run_id}")
    assert '<span class="gate-goal">ship the release</span>' in inbox.text
    assert "Run echo on the host?</p>" in inbox.text
    deadline = one(inbox.text, "time", cls="countdown")
    assert deadline["data-deadline"] and "due in" in inbox.text
    one(inbox.text, "input", name="back", value="inbox")

    form = {"answer": "reject", "reason": "not today", "actor": "cy", "back": "inbox"}
    answered = ui.post(f"/runs/{run_id}/gates/go", form, token=ui.token())

    assert answered.status_code == 200, answered.text
    assert one(answered.text, "div", id="exec")["data-view"] == "inbox"
    assert select(answered.text, "a", cls="gate-run-link", href=f"/runs/{run_id}") == []
    reason = "actor = 'cy' AND origin = 'ui' AND reason = 'not today'"
    assert gate_ui.ledger(run_id, "answered", reason) == 1
    ui.wait_detail(run_id, "failed", timeout=60)


def test_an_escalated_gate_says_so_and_a_timed_out_one_is_listed(gate_ui: GateUi) -> None:
    ui = gate_ui.ui
    late = {**GO, "timeout_s": 60, "escalate_after_s": 0.3}
    escalating, timing_out = gate_ui.gated(late), gate_ui.gated({**GO, "timeout_s": 1})

    page = ui.wait_detail(timing_out, "failed", timeout=60)
    row = one(page, "tr", cls="gate-row", data_gate_key="go")
    assert "gate-timed_out" in row["class"].split()
    assert '<td class="gate-outcome">timed out</td>' in page
    assert len(select(page, "tr", cls="ledger-row", data_kind="timed_out")) == 1
    deadline = time.monotonic() + 30
    while not select(html := ui.fragment(escalating), "span", cls="escalated"):
        assert time.monotonic() < deadline, f"never shown escalated:\n{html}"
        time.sleep(0.05)
    one(html, "article", cls="escalated", data_gate_key="go")
    answered = ui.post(f"/runs/{escalating}/gates/go", {"answer": "approve"}, token=ui.token())
    assert answered.status_code == 200, answered.text
