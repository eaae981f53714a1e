"""What a person does in the page: answer a waiting run, retry a failed one, follow a
citation, use the keyboard, read it on a phone."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from e2e.conftest import PHONE, Served

RUN_TIMEOUT = 30_000
SOURCE = "alpha beta gamma"


def _submit(page: Page, served: Served, command: str) -> None:
    page.goto(served.url + "/")
    page.locator("#command").fill(command)
    page.locator("#command-submit").click()


def test_a_waiting_run_takes_an_answer_from_the_form_and_finishes(
    page: Page, served: Served
) -> None:
    _submit(page, served, "please ask me")
    expect(page.locator("form#answer-form")).to_be_visible(timeout=RUN_TIMEOUT)
    run = served.newest_run()
    assert run["status"] == "waiting_input", run

    page.locator("#answer").fill("yes, go ahead")
    page.locator("#action-answer").click()

    expect(page.locator("#run-status")).to_have_attribute("data-state", "done", timeout=RUN_TIMEOUT)
    expect(page.locator("form#answer-form")).to_have_count(0)
    assert served.run(run["run_id"])["status"] == "succeeded"


def test_a_failed_run_offers_retry_and_the_button_runs_it_again(page: Page, served: Served) -> None:
    _submit(page, served, "please fail this one")
    expect(page.locator("#run-status")).to_have_attribute(
        "data-state", "error", timeout=RUN_TIMEOUT
    )
    retry = page.locator("button#action-retry")
    expect(retry).to_be_visible()
    run = served.newest_run()
    assert run["retryCount"] == 0, run

    retry.click()

    deadline = time.monotonic() + 30
    while served.run(run["run_id"])["retryCount"] != 1:
        assert time.monotonic() < deadline, "the retry button did not retry the run"
        time.sleep(0.05)
    expect(page.locator("#run-status")).to_have_attribute(
        "data-state", "error", timeout=RUN_TIMEOUT
    )
    expect(page.locator("button#action-retry")).to_be_visible()
    assert served.wait_run(run["run_id"], "retries_exceeded", "failed")["retryCount"] == 1


def test_a_refused_command_shows_its_reason_in_the_notice(page: Page, served: Served) -> None:
    # Spaces pass the textarea's `required`; the server refuses them with a 400.
    _submit(page, served, "   ")

    # htmx swaps an error answer only as its settings (the page's htmx-config) tell it to.
    notice = page.locator("#notice .notice-error")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("type a command first")
    expect(page.locator("#run-status")).to_have_attribute("data-state", "idle")


def test_clicking_a_memo_citation_marks_the_cited_span_in_the_viewer(
    page: Page, served: Served
) -> None:
    run_id = served.start_doc(SOURCE)
    served.wait_run(run_id, "done")
    page.goto(f"{served.url}/runs/{run_id}")

    page.locator("#artifacts .artifact-link[data-type='memo']").click()
    citation = page.locator("a.citation[data-start][data-end]").first
    expect(citation).to_be_visible()
    start = int(citation.get_attribute("data-start") or "")
    end = int(citation.get_attribute("data-end") or "")
    citation.click()

    mark = page.locator("#artifact-viewer mark.cited")
    expect(mark).to_have_count(1)
    expect(mark).to_be_visible()
    expect(mark).to_have_text(SOURCE[start:end])


def test_tab_reaches_the_command_box_then_its_submit_button(page: Page, served: Served) -> None:
    page.goto(served.url + "/")

    focused: list[str] = []
    for _ in range(40):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement && document.activeElement.id"))
        if "command-submit" in focused:
            break

    assert "command" in focused, focused
    assert "command-submit" in focused, focused
    assert focused.index("command") < focused.index("command-submit"), focused


def test_no_horizontal_scroll_at_phone_width(page: Page, served: Served) -> None:
    run_id = served.start_doc(SOURCE)
    served.wait_run(run_id, "done")
    page.set_viewport_size(PHONE)

    for path in ("/", f"/runs/{run_id}", f"/artifacts/{run_id}:memo"):
        page.goto(served.url + path)
        widths = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], f"{path} scrolls sideways at 390 px: {widths}"
