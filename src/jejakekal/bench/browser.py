"""The system Chromium under Playwright, as the UI bench and the e2e tests drive it.

Never a downloaded browser: Playwright only speaks the DevTools protocol to the
distribution's `/usr/bin/chromium`.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Playwright

CHROMIUM = Path("/usr/bin/chromium")
# Root needs --no-sandbox; the rest keeps the browser off a network that refuses it.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class ChromiumMissing(RuntimeError):
    """The system browser is not installed."""


def launch_chromium(playwright: Playwright) -> Browser:
    """Launch the system Chromium headless, or say plainly how to get it."""
    if not CHROMIUM.exists():
        raise ChromiumMissing(
            f"{CHROMIUM} not found: the browser proof needs the system Chromium "
            "(apt-get install chromium; .ci/run installs it); no downloaded browser is used"
        )
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
