"""Moving between runs: run-list links, the back button, and what each request gets."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from e2e.conftest import PLANES, Served, expect_full_page


def _two_done_runs(served: Served) -> tuple[str, str]:
    first = served.start_doc("alpha run for history")
    second = served.start_doc("beta run for history")
    served.wait_run(first, "done")
    served.wait_run(second, "done")
    return first, second


def _expect_run_shown(page: Page, run_id: str) -> None:
    expect(page).to_have_url(re.compile(rf"/runs/{re.escape(run_id)}(\?|$)"))
    expect_full_page(page)
    # The URL changes before the swap lands: wait for this run's artifacts, and only those.
    expect(page.locator(f"#artifacts .artifact-link[href*='{run_id}:']")).to_have_count(4)
    expect(page.locator("#artifacts .artifact-link")).to_have_count(4)


@pytest.mark.parametrize("history_cache", ["htmx cache", "server restore"])
def test_back_after_run_list_navigation_restores_the_full_page_of_the_earlier_run(
    page: Page, served: Served, history_cache: str
) -> None:
    first, second = _two_done_runs(served)
    page.goto(served.url + "/")
    if history_cache == "server restore":
        # No snapshots: htmx must fetch the page with HX-History-Restore-Request.
        page.evaluate("htmx.config.historyCacheSize = 0; localStorage.clear()")
    for run_id in (first, second):
        link = page.locator(f"#run-list li a.run-link[href*='{run_id}']")
        expect(link).to_have_attribute("data-status", "done")

    page.locator(f"#run-list a.run-link[href*='{first}']").click()
    _expect_run_shown(page, first)
    page.locator(f"#run-list a.run-link[href*='{second}']").click()
    _expect_run_shown(page, second)
    page.go_back()

    _expect_run_shown(page, first)
    expect(page.locator(f"#run-list a.run-link[href*='{second}']")).to_have_count(1)


def test_hx_requests_get_a_fragment_and_history_restores_get_the_full_page(
    served: Served,
) -> None:
    run_id, _ = _two_done_runs(served)
    url = f"{served.url}/runs/{run_id}"

    direct = httpx.get(url)
    fragment = httpx.get(url, headers={"HX-Request": "true"})
    restore = httpx.get(url, headers={"HX-History-Restore-Request": "true"})
    both = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    restore_hx = httpx.get(url, headers=both)

    for reply in (direct, fragment, restore, restore_hx):
        assert reply.status_code == 200
    for full in (direct, restore, restore_hx):
        assert all(f'id="{plane[1:]}"' in full.text for plane in PLANES)
    assert 'id="conversation-plane"' not in fragment.text
    assert "<html" not in fragment.text.lower()
