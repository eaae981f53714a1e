"""The browser proof's fixtures: real `jejakekal` processes and the system Chromium.

`served` is `jejakekal serve` (API and UI in one process) on each backend; `served_any`
adds split mode, `jejakekal api` beside `jejakekal ui --api-url`, where the UI process
gets its own empty home and no database URL, so it can only reach runs over HTTP.
A missing /usr/bin/chromium fails every test here: the proof is never skipped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)

from conftest import free_port
from jejakekal import processes
from jejakekal.bench.browser import ChromiumMissing, launch_chromium
from jejakekal.storage.engine import db_kind

CLI = [sys.executable, "-m", "jejakekal.cli.main"]
ARTIFACTS = Path(__file__).parent / "artifacts"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
PLANES = ("#conversation-plane", "#execution-plane", "#artifact-plane")
START_TIMEOUT = 60.0

expect.set_options(timeout=15_000)


@dataclass
class Served:
    """A running product: the UI's and the API's base URLs, and an API client for oracles."""

    url: str
    api_url: str
    db: str
    mode: str
    http: httpx.Client

    def run(self, run_id: str) -> dict[str, Any]:
        reply = self.http.get(f"/runs/{run_id}")
        assert reply.status_code == 200, reply.text
        view: dict[str, Any] = reply.json()
        return view

    def newest_run(self) -> dict[str, Any]:
        items = self.http.get("/runs", params={"limit": 1}).json()["items"]
        assert items, "no run was created"
        newest: dict[str, Any] = items[0]
        return newest

    def start_doc(self, source: str, sleep_ms: int = 0) -> str:
        reply = self.http.post("/runs", json={"source": source, "sleepMs": sleep_ms})
        assert reply.status_code == 202, reply.text
        return str(reply.json()["run_id"])

    def wait_run(self, run_id: str, *wanted: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        view: dict[str, Any] = {}
        while time.monotonic() < deadline:
            view = self.run(run_id)
            if view["status"] in wanted:
                return view
            time.sleep(0.05)
        raise AssertionError(f"run {run_id} never reached {wanted}; last view: {view}")

    def shot(self, page: Page, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}-{self.mode}-{self.db}.png"
        page.screenshot(path=str(path))
        return path


class Process:
    """One `jejakekal` command in its own process, its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(
            [*CLI, *args], env=env, stdout=self._out, stderr=subprocess.STDOUT
        )

    def wait_healthy(self, base: str) -> None:
        try:
            processes.wait_healthy(base, self.proc, START_TIMEOUT, lambda: "\n" + self.tail())
        except processes.StartFailed as failed:
            pytest.fail(f"{self.proc.args}: {failed}", pytrace=False)

    def tail(self) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._out.close()
        # Shown by pytest only when the test failed: the server's side of the story.
        command = " ".join(self.proc.args[3:])
        print(f"--- jejakekal {command} ---\n{self.log.read_text(errors='replace')[-6000:]}")


def _env(
    home: Path, database_url: str | None, token: str | None = None, **ports: int
) -> dict[str, str]:
    env = {
        **os.environ,
        "JEJAKEKAL_HOME": str(home),
        "JEJAKEKAL_QUEUE_POLL_SEC": "0.02",
        "JEJAKEKAL_STEP_RETRY_INTERVAL_SEC": "0.05",
        **{name: str(port) for name, port in ports.items()},
    }
    for name in ("PORT", "JEJAKEKAL_DATABASE_URL", "DATABASE_URL", "JEJAKEKAL_API_TOKEN"):
        env.pop(name, None)
    if database_url is not None:
        env["JEJAKEKAL_DATABASE_URL"] = database_url
    if token is not None:
        env["JEJAKEKAL_API_TOKEN"] = token
    return env


def _serve(
    mode: str, database_url: str, tmp_path: Path, stack: ExitStack, token: str | None = None
) -> tuple[str, str]:
    api_port, ui_port = free_port(), free_port()
    api, ui = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{ui_port}"
    home = tmp_path / "home"
    if mode == "embedded":
        env = _env(home, database_url, token, API_PORT=api_port, UI_PORT=ui_port)
        server = Process(["serve"], env, tmp_path / "serve.log")
        stack.callback(server.stop)
        server.wait_healthy(api)
        server.wait_healthy(ui)
        return api, ui
    api_env = _env(home, database_url, token, API_PORT=api_port)
    api_proc = Process(["api"], api_env, tmp_path / "api.log")
    stack.callback(api_proc.stop)
    api_proc.wait_healthy(api)
    # The UI alone: its own empty home, no database; everything it shows comes over HTTP.
    ui_env = _env(tmp_path / "ui-home", None, token, UI_PORT=ui_port)
    ui_proc = Process(["ui", "--api-url", api], ui_env, tmp_path / "ui.log")
    stack.callback(ui_proc.stop)
    ui_proc.wait_healthy(ui)
    return api, ui


def _served(
    mode: str, database_url: str, tmp_path: Path, token: str | None = None
) -> Iterator[Served]:
    db = db_kind(database_url)
    with ExitStack() as stack:
        api, ui = _serve(mode, database_url, tmp_path, stack, token)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        http = stack.enter_context(httpx.Client(base_url=api, timeout=30, headers=headers))
        yield Served(ui, api, db, mode, http)


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[Served]:
    """`jejakekal serve` on a fresh database of each backend."""
    yield from _served("embedded", database_url, tmp_path)


@pytest.fixture(params=["embedded", "split"])
def served_any(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> Iterator[Served]:
    """`serve` in one process, and `api` + `ui --api-url` as two."""
    yield from _served(request.param, database_url, tmp_path)


TOKEN = "e2e-token-0123456789"


@pytest.fixture(params=["embedded", "split"])
def served_with_token(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> Iterator[Served]:
    """`serve`, and `api` + `ui --api-url`, with JEJAKEKAL_API_TOKEN set (on loopback)."""
    yield from _served(request.param, database_url, tmp_path, TOKEN)


# Package scope, not session: Playwright's sync API keeps an event loop running on the
# main thread while it lives, and kernels that later tests build refuse to start under one.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    try:
        chromium = launch_chromium(playwright)
    except ChromiumMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    yield chromium
    chromium.close()


# Reports every Content-Security-Policy violation of every document the tab loads.
REPORT_CSP = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__reportCsp(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile}:${event.lineNumber}`);
});
"""


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh context (no cache, no storage) at desktop size. Every test using it also
    proves the pages work under their CSP: a violation the browser reports fails it."""
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(15_000)
    violations: list[str] = []
    context.expose_binding("__reportCsp", lambda _source, text: violations.append(str(text)))
    context.add_init_script(REPORT_CSP)
    tab = context.new_page()
    tab.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield tab
    context.close()
    assert not violations, f"the browser reported CSP violations: {violations}"


def expect_full_page(page: Page) -> None:
    """The page shell: all three planes, not a fragment."""
    for plane in PLANES:
        expect(page.locator(plane)).to_have_count(1)
