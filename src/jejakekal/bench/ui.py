"""`bench ui`: a real Chromium loading the UI page until the run list is rendered
(README, "Current figures").

Each sample is a first visit: a fresh browser context (empty cache and storage) loads
`/` from a `jejakekal serve` holding a few finished runs. A returning visit (a new tab
in a context that loaded the page before) follows each and is reported beside it.
The browser keeps the time: an init script notes `performance.now()` (counted from the
start of the navigation) at the first frame after `#run-list` shows every run, so
Playwright's own round trips stay off the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, sync_playwright

from jejakekal.bench.browser import launch_chromium
from jejakekal.bench.client import BenchClient
from jejakekal.bench.ingest import ingest_once
from jejakekal.bench.results import UiResult
from jejakekal.bench.server import serve_process
from jejakekal.bench.stats import summary
from jejakekal.storage.engine import db_kind

RUNS_PRESENT = 5
WARMUP = 3
LOAD_TIMEOUT_MS = 30_000

# Runs before the page's own parser: every insertion into the document is seen.
_WATCH_RUN_LIST = """
(() => {
  const want = %d;
  const listed = () => document.querySelectorAll('#run-list li a.run-link').length >= want;
  const observer = new MutationObserver(() => {
    if (!listed()) return;
    observer.disconnect();
    requestAnimationFrame(() => { window.__runListRenderedMs = performance.now(); });
  });
  observer.observe(document, { childList: true, subtree: true });
})();
"""


def load_once(context: BrowserContext, url: str) -> float:
    """One load of `url` in a new tab: seconds from navigation start to the run list on screen."""
    page = context.new_page()
    try:
        page.goto(url, wait_until="commit", timeout=LOAD_TIMEOUT_MS)
        page.wait_for_function("window.__runListRenderedMs !== undefined", timeout=LOAD_TIMEOUT_MS)
        rendered_ms = float(page.evaluate("window.__runListRenderedMs"))
    finally:
        page.close()
    return rendered_ms / 1000


def _context(browser: Browser) -> BrowserContext:
    context = browser.new_context()
    context.add_init_script(_WATCH_RUN_LIST % RUNS_PRESENT)
    return context


def first_visit(browser: Browser, url: str) -> float:
    """A load in a fresh context: empty cache, no cookies, nothing stored."""
    context = _context(browser)
    try:
        return load_once(context, url)
    finally:
        context.close()


def measure(
    database_url: str, home: Path, runs: int, progress: Callable[[], object] | None = None
) -> UiResult:
    """First visits (the budgeted figure), alternating with returning visits (warm cache)."""
    with serve_process(database_url, home) as (api, ui), sync_playwright() as playwright:
        with BenchClient(api) as client:
            for n in range(RUNS_PRESENT):
                ingest_once(client, n)
        url = f"{ui}/"
        browser = launch_chromium(playwright)
        try:
            returning = _context(browser)
            for _ in range(WARMUP):
                first_visit(browser, url)
                load_once(returning, url)
            cold, warm = [], []
            for _ in range(runs):
                cold.append(first_visit(browser, url))
                warm.append(load_once(returning, url))
                if progress:
                    progress()
        finally:
            browser.close()
    return {
        "db": db_kind(database_url),
        "samples": runs,
        "runs_listed": RUNS_PRESENT,
        "cache": "cold",
        **summary(cold),
        "warm_cache": summary(warm),
    }
