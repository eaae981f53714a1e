"""Following a live run in Chromium: the page polls less often while the run stays the
same, polls at the base again when it changes, stops after the timeout with a visible
"stopped following" state, and its refresh link follows the run again.

The scaled test sets intervals of a fifth of a second so the whole story takes seconds;
the long one follows a run for over two minutes with the default settings, which the
page mostly spends waiting, and counts its polls."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, Request, expect

from e2e.conftest import Served, _served, expect_full_page
from e2e.test_gates_ui import start_gated_run

BASE_MS, CEILING_MS, TIMEOUT_MS = 200, 800, 4000
SCALED_ENV = {
    "JEJAKEKAL_UI_POLL_INTERVAL_MS": str(BASE_MS),
    "JEJAKEKAL_UI_POLL_MAX_INTERVAL_MS": str(CEILING_MS),
    "JEJAKEKAL_UI_POLL_TIMEOUT_MS": str(TIMEOUT_MS),
}
# A timer may fire a little early, and a poll's own round trip comes on top of its wait.
EARLY_MS = 50
RUN_TIMEOUT = 60_000
FIRST = {"key": "first", "question": "Start the first half?"}
SECOND = {"key": "second", "question": "Start the second half?"}


@dataclass(frozen=True)
class Poll:
    """One poll request the page sent: when (the browser's clock) and the mark it carried."""

    at_ms: float
    wait_ms: int | None  # the interval the page waited before it; None: an unmarked poll
    seen: str | None


@dataclass
class Polls:
    """Every poll of one run's fragment the page sends, as Playwright reports requests."""

    path: str
    requests: list[Request] = field(default_factory=list)

    def note(self, request: Request) -> None:
        if urlsplit(request.url).path == self.path:
            self.requests.append(request)

    def first(self, start: int, wanted: Callable[[Poll], bool], page: Page) -> Poll:
        """The first poll from the `start`th on that is `wanted`, waiting for it a while."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = [p for p in self.since(start) if wanted(p)]
            if found:
                return found[0]
            page.wait_for_timeout(50)  # Playwright reports requests while it waits
        raise AssertionError(f"no such poll: {self.since(start)}")

    def since(self, start: int = 0) -> list[Poll]:
        polls = []
        for request in self.requests[start:]:
            query = parse_qs(urlsplit(request.url).query)
            wait = query.get("wait")
            polls.append(
                Poll(
                    at_ms=request.timing["startTime"],
                    wait_ms=int(wait[0]) if wait else None,
                    seen=query.get("seen", [None])[0],
                )
            )
        return polls


def follow(page: Page, served: Served, run_id: str) -> Polls:
    polls = Polls(f"/fragments/runs/{run_id}")
    page.on("requestfinished", polls.note)
    page.goto(f"{served.url}/runs/{run_id}")
    expect_full_page(page)
    return polls


def assert_backed_off(polls: list[Poll]) -> None:
    """Each poll waited what the previous answer said: the base, doubling to the ceiling."""
    expected = BASE_MS
    for earlier, later in pairwise(polls):
        assert later.wait_ms == expected, [p.wait_ms for p in polls]
        assert later.at_ms - earlier.at_ms >= expected - EARLY_MS, polls
        expected = min(expected * 2, CEILING_MS)


@pytest.fixture
def served_scaled(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Served]:
    """`jejakekal serve` with intervals short enough to watch a whole back-off."""
    for name, value in SCALED_ENV.items():
        monkeypatch.setenv(name, value)
    yield from _served("embedded", database_url, tmp_path)


def test_polls_back_off_stop_after_the_timeout_and_refresh_follows_again(
    page: Page, served_scaled: Served
) -> None:
    served = served_scaled
    run_id = start_gated_run(served, "two halves", "echo done", [FIRST, SECOND], "script")
    served.wait_run(run_id, "waiting_input", timeout=RUN_TIMEOUT / 1000)

    polls = follow(page, served, run_id)
    stopped = page.locator("#follow-stopped")
    expect(stopped).to_be_visible(timeout=TIMEOUT_MS + 10_000)

    expect(stopped).to_contain_text("Stopped following this run; refresh to follow again.")
    expect(page.locator("#run-status")).to_have_attribute("data-state", "running")
    served.shot(page, "follow-stopped-1280")
    quiet = polls.since()
    assert quiet[0].wait_ms is None, "the page's first poll carries no mark"
    assert_backed_off(quiet)
    assert quiet[-1].at_ms - quiet[0].at_ms >= TIMEOUT_MS - 4 * EARLY_MS
    # Without backing off the page would have polled TIMEOUT_MS / BASE_MS = 20 times.
    assert len(quiet) <= 12, [p.wait_ms for p in quiet]
    page.wait_for_timeout(2 * CEILING_MS)
    assert len(polls.requests) == len(quiet), "a page that stopped following polls no more"

    resumed_from = len(polls.requests)
    page.locator("#follow-refresh").click()
    expect(stopped).to_have_count(0)
    expect(page.locator("#exec")).to_have_attribute("hx-trigger", f"every {BASE_MS}ms")
    expect(page.locator("#exec")).to_have_attribute("hx-trigger", f"every {CEILING_MS}ms")
    again = polls.since(resumed_from)
    assert again[0].wait_ms is None, "refresh follows from a fresh start"
    assert_backed_off(again)

    changed_from = len(polls.requests)
    answered = served.http.post(f"/runs/{run_id}/gates/first", json={"answer": "approve"})
    assert answered.status_code == 202, answered.text
    expect(page.locator("article.gate[data-gate-key='second']")).to_be_visible(timeout=RUN_TIMEOUT)
    first_after = polls.first(changed_from, lambda p: p.seen != again[-1].seen, page)
    assert first_after.wait_ms == BASE_MS, "a change brings the base interval back"

    answered = served.http.post(f"/runs/{run_id}/gates/second", json={"answer": "approve"})
    assert answered.status_code == 202, answered.text
    expect(page.locator("#run-status")).to_have_attribute("data-state", "done", timeout=RUN_TIMEOUT)
    assert page.locator("#exec").get_attribute("hx-trigger") is None
    expect(stopped).to_have_count(0)


LONG_FOLLOW_S = 125
DEFAULT_CEILING_S = 10


@pytest.mark.timeout(LONG_FOLLOW_S + 120)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_run_of_over_two_minutes_is_followed_with_few_polls_to_its_end(
    page: Page, served: Served
) -> None:
    # One backend: what is measured is the page's polling, the same over either database.
    run_id = start_gated_run(served, "a slow approval", "echo late", [FIRST], "script")
    served.wait_run(run_id, "waiting_input", timeout=RUN_TIMEOUT / 1000)
    started = time.monotonic()

    polls = follow(page, served, run_id)
    page.wait_for_timeout(LONG_FOLLOW_S * 1000)
    answered = served.http.post(f"/runs/{run_id}/gates/first", json={"answer": "approve"})
    assert answered.status_code == 202, answered.text
    expect(page.locator("#run-status")).to_have_attribute(
        "data-state", "done", timeout=(DEFAULT_CEILING_S + 30) * 1000
    )

    followed_s = time.monotonic() - started
    waits = [p.wait_ms for p in polls.since()]
    assert followed_s >= 2 * 60
    # The defaults: 1 s doubling to 10 s; polling every second would have taken ~125.
    assert waits[:5] == [None, 1000, 2000, 4000, 8000], waits
    assert set(waits[5:]) <= {10_000, 1000}, waits
    assert len(waits) <= 5 + followed_s / DEFAULT_CEILING_S + 2, waits
    expect(page.locator("#follow-stopped")).to_have_count(0)
    assert page.locator("#exec").get_attribute("hx-trigger") is None
