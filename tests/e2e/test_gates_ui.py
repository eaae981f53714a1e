"""Human gates in Chromium: a run waits at its gate, the page shows the question and a
deadline that counts down, a person answers with their name, and the page says who
answered from where; a plan is approved from the inbox."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from e2e.conftest import Served, expect_full_page
from e2e.test_contrast import audit

RUN_TIMEOUT = 60_000


def start_gated_run(
    served: Served, goal: str, command: str, gates: list[dict[str, Any]], recipe: str
) -> str:
    body = {"goal": goal, "inputs": {"commands": [command], "gates": gates}, "constraints": {}}
    created = served.http.post("/intents", json=body)
    assert created.status_code == 201, created.text
    intent_id = created.json()["intentId"]
    started = served.http.post(f"/intents/{intent_id}/run", json={"recipeName": recipe})
    assert started.status_code == 202, started.text
    return str(started.json()["runId"])


def test_a_gate_is_answered_in_the_page_by_name_and_the_run_succeeds(
    page: Page, served_any: Served
) -> None:
    gate = {"key": "go", "question": "Deploy to staging?", "timeout_s": 600}
    run_id = start_gated_run(served_any, "ship build 42", "echo shipped", [gate], "script")

    page.goto(f"{served_any.url}/runs/{run_id}")
    expect_full_page(page)
    expect(page.locator("#run-goal")).to_have_text("ship build 42")
    card = page.locator("article.gate[data-gate-key='go']")
    expect(card.locator(".gate-question")).to_have_text("Deploy to staging?", timeout=RUN_TIMEOUT)
    countdown = card.locator(".countdown")
    expect(countdown).to_contain_text("due in")
    shown = countdown.inner_text()
    expect(countdown).not_to_have_text(shown, timeout=3_000)
    expect(card.get_by_role("button", name="Reject")).to_have_class("gate-choice action-danger")
    assert not audit(page)["failures"], "the gate's text is readable (WCAG AA)"
    served_any.shot(page, "gate-waiting-1280")

    card.get_by_label("Your name (optional)").fill("Dana Reviewer")
    card.get_by_role("button", name="Approve").click()

    answered = page.locator("#gates tr.gate-row[data-gate-key='go']")
    expect(answered.locator(".gate-actor")).to_have_text("Dana Reviewer")
    expect(answered.locator(".gate-origin")).to_have_text("ui")
    expect(answered.locator(".gate-answer")).to_have_text("approve")
    expect(page.locator("#ledger tr.ledger-row")).to_have_count(2)
    expect(page.locator("#run-status")).to_have_attribute("data-state", "done", timeout=RUN_TIMEOUT)
    view = served_any.run(run_id)
    assert view["status"] == "succeeded"
    assert (view["gates"][0]["actor"], view["gates"][0]["origin"]) == ("Dana Reviewer", "ui")
    assert not audit(page)["failures"], "the answered gates' text is readable (WCAG AA)"
    served_any.shot(page, "gate-answered-1280")


def test_a_plan_is_shown_and_approved_from_the_inbox(page: Page, served_any: Served) -> None:
    run_id = start_gated_run(
        served_any, "approve my plan", "echo from-the-inbox", [], "script-approval"
    )
    served_any.wait_run(run_id, "waiting_input", timeout=RUN_TIMEOUT / 1000)

    page.goto(f"{served_any.url}/")
    page.locator("#nav-inbox").click()
    expect(page).to_have_url(f"{served_any.url}/inbox")
    card = page.locator(f"#inbox article.gate[data-run-id='{run_id}']")
    expect(card.locator(".gate-goal")).to_have_text("approve my plan")
    expect(card.locator(".gate-plan .node-command")).to_have_text("echo from-the-inbox")
    expect(card.locator(".countdown")).to_have_text("no deadline")
    assert not audit(page)["failures"], "the inbox's text is readable (WCAG AA)"
    served_any.shot(page, "gate-inbox-1280")

    card.get_by_role("button", name="Approve").click()

    expect(card).to_have_count(0)
    expect(page.locator("#inbox-empty")).to_be_visible()
    view = served_any.wait_run(run_id, "succeeded", timeout=RUN_TIMEOUT / 1000)
    assert (view["gates"][0]["key"], view["gates"][0]["origin"]) == ("plan", "ui")
    assert view["gates"][0]["actor"] == "ui-user"
