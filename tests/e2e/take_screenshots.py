"""Take the README's screenshots: the five-minute demo's done state at 1280 and 390 px.

    .venv/bin/python tests/e2e/take_screenshots.py [OUT_DIR]   (default docs/screenshots)

A scratch `jejakekal serve` on an empty SQLite home, the system Chromium, the demo's
command; then `ui-1280.png` and `ui-390.png` with the memo open and its citation marked.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from jejakekal.bench.browser import launch_chromium
from jejakekal.bench.server import serve_process

REPO = Path(__file__).resolve().parents[2]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="jejakekal-shots-"))
    url = f"sqlite:///{home / 'jejakekal.sqlite'}"
    with serve_process(url, home) as (_, ui), sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{ui}/?sleepMs=250")
        page.locator("#command").fill("/doc alpha beta gamma")
        page.locator("#command-submit").click()
        status = page.locator("#run-status")
        expect(status).to_have_attribute("data-state", "done", timeout=30_000)
        page.locator("#artifacts .artifact-link[data-type='memo']").click()
        page.locator("#artifact-viewer a.citation").first.click()
        expect(page.locator("#artifact-viewer mark.cited")).to_be_visible()
        page.screenshot(path=str(out / "ui-1280.png"))
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(out / "ui-390.png"))
        browser.close()
    print(f"written {out / 'ui-1280.png'} and {out / 'ui-390.png'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "screenshots")
