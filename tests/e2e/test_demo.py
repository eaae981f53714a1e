"""Course 004 section 1, the five-minute value demo, in a real Chromium."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from e2e.conftest import DESKTOP, PHONE, Served, expect_full_page

DOC_STEPS = ["prepare", "DBOS.sleep", "side-effect", "finalize"]
ARTIFACT_TYPES = ["raw", "docir", "chunk-index", "memo"]
RUN_TIMEOUT = 30_000

# Notes every (state, #exec hx-trigger) pair the page goes through, swaps included.
RECORD_STATES = """
() => {
  const seen = [];
  const note = () => {
    const status = document.querySelector('#run-status');
    const exec = document.querySelector('#exec');
    const entry = [
      status ? status.getAttribute('data-state') : null,
      exec ? exec.getAttribute('hx-trigger') : null,
    ];
    const last = seen[seen.length - 1];
    if (!last || last[0] !== entry[0] || last[1] !== entry[1]) seen.push(entry);
  };
  note();
  new MutationObserver(note).observe(document.body,
    { subtree: true, childList: true, attributes: true });
  window.__seen = seen;
}
"""


def _states(seen: list[list[Any]]) -> list[str]:
    states: list[str] = []
    for state, _ in seen:
        if state is not None and (not states or states[-1] != state):
            states.append(state)
    return states


def run_demo(page: Page, served: Served) -> list[list[Any]]:
    """Open the UI, submit `/doc alpha beta gamma`, wait for `done`: the states seen."""
    page.goto(f"{served.url}/?sleepMs=250")
    expect(page.locator("#run-status")).to_have_attribute("data-state", "idle")
    page.evaluate(RECORD_STATES)
    page.locator("#command").fill("/doc alpha beta gamma")
    page.locator("#command-submit").click()
    expect(page.locator("#run-status")).to_have_attribute("data-state", "done", timeout=RUN_TIMEOUT)
    seen: list[list[Any]] = page.evaluate("window.__seen")
    return seen


def test_five_minute_demo_runs_a_document_to_done_with_its_timeline_and_artifacts(
    page: Page, served_any: Served
) -> None:
    seen = run_demo(page, served_any)

    assert _states(seen) == ["idle", "running", "done"], seen
    assert any(s == "running" and t and "every 1s" in t for s, t in seen), seen
    # Polling stops once terminal.
    page.wait_for_function("!document.querySelector('#exec').hasAttribute('hx-trigger')")
    names = page.locator("#timeline .step[data-name]").evaluate_all(
        "steps => steps.map(s => s.dataset.name)"
    )
    assert [n for n in names if n in DOC_STEPS] == DOC_STEPS, names
    types = page.locator("#artifacts .artifact-link[data-type]").evaluate_all(
        "links => links.map(a => a.dataset.type)"
    )
    assert sorted(types) == sorted(ARTIFACT_TYPES), types
    run = served_any.newest_run()
    assert run["status"] == "done"
    hrefs = page.locator("#artifacts .artifact-link").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    assert all(f"{run['run_id']}:" in (h or "") for h in hrefs), hrefs
    served_any.shot(page, "demo-1280")
    page.set_viewport_size(PHONE)
    served_any.shot(page, "demo-390")
    page.set_viewport_size(DESKTOP)


def test_direct_run_and_artifact_loads_render_the_full_page_and_link_the_producer_step(
    page: Page, served_any: Served
) -> None:
    run_id = served_any.start_doc("alpha beta gamma")
    served_any.wait_run(run_id, "done")
    memo = served_any.http.get(f"/artifacts/{run_id}:memo").json()["meta"]

    page.goto(f"{served_any.url}/runs/{run_id}")
    expect_full_page(page)
    expect(page.locator("#run-status")).to_have_attribute("data-state", "done")
    page.goto(f"{served_any.url}/artifacts/{run_id}:memo")
    expect_full_page(page)
    page.locator("a#producer-step").click()

    step = memo["producer_function_id"]
    expect(page).to_have_url(re.compile(rf"/runs/{re.escape(run_id)}\?step={step}$"))
    expect_full_page(page)
    expect(page.locator("#run-status")).to_have_attribute("data-state", "done")
