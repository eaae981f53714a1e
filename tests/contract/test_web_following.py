"""The UI's polling settings reach the page: a live run is first polled at
JEJAKEKAL_UI_POLL_INTERVAL_MS, each unchanged answer doubles the interval up to
JEJAKEKAL_UI_POLL_MAX_INTERVAL_MS, and after JEJAKEKAL_UI_POLL_TIMEOUT_MS without a
change the answer stops polling, says so, and links to following again. On SQLite and
PostgreSQL; the browser's side is in tests/e2e/test_following.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from test_web import HX, Ui, one, select, serve_ui

from conftest import make_settings
from jejakekal.bootstrap import Kernel
from jejakekal.config import Settings
from jejakekal.web import InProcessClient

POLL_ENV = {
    "JEJAKEKAL_UI_POLL_INTERVAL_MS": "250",
    "JEJAKEKAL_UI_POLL_MAX_INTERVAL_MS": "1000",
    "JEJAKEKAL_UI_POLL_TIMEOUT_MS": "60000",
}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "home", **POLL_ENV)


@pytest.fixture
def ui(settings: Settings, kernel: Kernel) -> Iterator[Ui]:
    server, thread, port = serve_ui(settings, InProcessClient(kernel.control))
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=30) as http:
        try:
            yield Ui(base, http, settings)
        finally:
            server.should_exit = True
            thread.join(timeout=30)


def exec_of(ui: Ui, url: str) -> tuple[dict[str, str], str]:
    """Poll `url` as the page does: the answer's #exec, and the whole answer."""
    reply = ui.http.get(url, headers=HX)
    assert reply.status_code == 200, reply.text
    return one(reply.text, "div", id="exec"), reply.text


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return f"{parts.path}?{urlencode(query)}"


def waiting_run(ui: Ui) -> str:
    run_id = ui.command("ask user")
    ui.wait_detail(run_id, "waiting_input")
    return run_id


def test_a_live_runs_page_first_polls_at_the_configured_interval(ui: Ui) -> None:
    run_id = waiting_run(ui)

    page = ui.http.get(f"/runs/{run_id}")

    exec_div = one(page.text, "div", id="exec")
    assert exec_div["hx-trigger"] == "every 250ms"
    assert exec_div["hx-get"] == f"/fragments/runs/{run_id}"


def test_unchanged_answers_double_the_interval_up_to_the_configured_ceiling(ui: Ui) -> None:
    run_id = waiting_run(ui)
    url = f"/fragments/runs/{run_id}"

    triggers = []
    for _ in range(5):
        exec_div, _ = exec_of(ui, url)
        triggers.append(exec_div["hx-trigger"])
        url = exec_div["hx-get"]

    assert triggers == ["every 250ms", "every 500ms", "every 1s", "every 1s", "every 1s"]
    assert parse_qs(urlsplit(url).query)["wait"] == ["1000"]


def test_a_change_brings_the_interval_back_to_the_base(ui: Ui) -> None:
    run_id = waiting_run(ui)
    exec_div, _ = exec_of(ui, f"/fragments/runs/{run_id}")
    seen_before = with_query(exec_div["hx-get"], seen="0" * 16, wait="1000")

    after_change, _ = exec_of(ui, seen_before)

    assert after_change["hx-trigger"] == "every 250ms"


def test_after_the_timeout_without_a_change_the_page_stops_and_offers_to_follow_again(
    ui: Ui,
) -> None:
    run_id = waiting_run(ui)
    exec_div, _ = exec_of(ui, f"/fragments/runs/{run_id}")
    long_quiet = with_query(exec_div["hx-get"], since="0")

    stopped, html = exec_of(ui, long_quiet)

    assert "hx-trigger" not in stopped and "hx-get" not in stopped
    notice = one(html, "p", id="follow-stopped")
    assert "notice" in notice["class"].split()
    assert "Stopped following this run; refresh to follow again." in html
    refresh = one(html, "a", id="follow-refresh")
    assert refresh["href"] == f"/runs/{run_id}"
    assert refresh["hx-get"] == f"/fragments/runs/{run_id}"
    assert refresh["hx-target"] == "#exec"
    assert one(html, id="run-status", hx_swap_oob="true")["data-state"] == "running"

    followed_again, again_html = exec_of(ui, refresh["hx-get"])
    assert followed_again["hx-trigger"] == "every 250ms"
    assert select(again_html, id="follow-stopped") == []


def test_a_malformed_mark_starts_following_afresh(ui: Ui) -> None:
    run_id = waiting_run(ui)

    exec_div, _ = exec_of(ui, f"/fragments/runs/{run_id}?seen=nope&wait=x&since=0")

    assert exec_div["hx-trigger"] == "every 250ms"


def test_a_finished_run_stops_polling_without_the_stopped_notice(ui: Ui) -> None:
    run_id = ui.command("/doc short and done.")
    ui.wait_detail(run_id, "done")

    done, html = exec_of(ui, f"/fragments/runs/{run_id}?seen={'0' * 16}&wait=1000&since=0")

    assert "hx-trigger" not in done
    assert select(html, id="follow-stopped") == []
