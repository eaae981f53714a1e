"""The web UI over HTTP: pages, fragments, CSRF, actions, deep links, split mode.

The UI is served by uvicorn on a real port, over the in-process client on each backend;
one test puts it in split mode, in front of a real API server. The browser proof is in
tests/e2e; these tests read the HTML the browser would get.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from conftest import TERMINAL, Api, free_port, q, serve_app_in_thread
from jejakekal import web
from jejakekal.bootstrap import Kernel
from jejakekal.config import Settings
from jejakekal.domain.contracts import IntentCreate, RunRequest
from jejakekal.storage.console import run_readonly
from jejakekal.web import HttpClient, InProcessClient, UiClient, create_ui_app
from jejakekal.web.csrf import COOKIE

HX = {"HX-Request": "true"}
STATIC = Path(web.__file__).parent / "static"
DOC_TERMINAL = {"done", "error", "unknown"}


class Elements(HTMLParser):
    """Every start tag with its attributes, in document order."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))


def select(html: str, tag: str | None = None, **want: str) -> list[dict[str, str]]:
    """Elements by tag and attributes; `cls` matches one class among several."""
    hits = []
    for name, attrs in Elements(html).found:
        if tag is not None and name != tag:
            continue
        cls = want.get("cls")
        if cls is not None and cls not in attrs.get("class", "").split():
            continue
        if all(attrs.get(k.replace("_", "-")) == v for k, v in want.items() if k != "cls"):
            hits.append(attrs)
    return hits


def one(html: str, tag: str | None = None, **want: str) -> dict[str, str]:
    hits = select(html, tag, **want)
    assert len(hits) == 1, f"expected one {tag or ''}{want}, found {len(hits)}"
    return hits[0]


@dataclass
class Ui:
    """A UI server on a loopback port, a browser-like client with its cookie jar, oracles."""

    base_url: str
    http: httpx.Client
    settings: Settings
    api: httpx.Client | None = None  # the JSON API, in split mode

    def sql_count(self, query: str) -> int:
        _, rows = run_readonly(self.settings.resolved_database_url, query)
        return int(rows[0][0])

    def token(self) -> str:
        """Load the home page, as a browser does before it can post anything."""
        page = self.http.get("/")
        assert page.status_code == 200, page.text
        token = self.http.cookies.get(COOKIE)
        assert token, "the page set no CSRF cookie"
        return token

    def post(self, path: str, data: dict[str, str], *, token: str | None, hx: bool = True) -> Any:
        headers = dict(HX) if hx else {}
        if token is not None:
            data = {**data, "csrf_token": token}
        return self.http.post(path, data=data, headers=headers)

    def command(self, text: str, sleep_ms: int = 0) -> str:
        reply = self.post(
            "/commands", {"command": text, "sleepMs": str(sleep_ms)}, token=self.token()
        )
        assert reply.status_code == 200, reply.text
        return one(reply.text, "div", id="exec")["data-run-id"]

    def fragment(self, run_id: str) -> str:
        reply = self.http.get(f"/fragments/runs/{run_id}", headers=HX)
        assert reply.status_code == 200, reply.text
        return str(reply.text)

    def wait_detail(self, run_id: str, *statuses: str, timeout: float = 30.0) -> str:
        """Poll the fragment, as the page does, until the run's status is one of `statuses`."""
        deadline = time.monotonic() + timeout
        html = ""
        while time.monotonic() < deadline:
            html = self.fragment(run_id)
            link = one(html, "a", cls="run-link")
            if link["data-status"] in statuses:
                return html
            time.sleep(0.05)
        raise AssertionError(f"run {run_id} never reached {statuses}; last fragment:\n{html}")


def serve_ui(settings: Settings, client: UiClient) -> tuple[uvicorn.Server, threading.Thread, int]:
    return serve_app_in_thread(create_ui_app(settings, client))


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


def runs_count(ui: Ui) -> int:
    return ui.sql_count("SELECT COUNT(*) FROM app.runs")


# -- pages and fragments ---------------------------------------------------------------
def test_home_page_has_the_three_planes_and_the_dom_contract(ui: Ui) -> None:
    reply = ui.http.get("/")

    assert reply.status_code == 200
    html = reply.text
    assert html.lstrip().lower().startswith("<!doctype html>")
    for plane in ("conversation-plane", "execution-plane", "artifact-plane"):
        one(html, "section", id=plane)
    one(html, "form", id="command-form")
    one(html, "label", **{"for": "command"})
    one(html, "textarea", id="command")
    one(html, "button", id="command-submit")
    one(html, "ul", id="run-list")
    one(html, "div", id="exec")
    status = one(html, id="run-status")
    assert status["data-state"] == "idle"
    assert status["aria-live"] == "polite"
    one(html, "ol", id="timeline")
    one(html, "ul", id="artifacts")
    one(html, id="artifact-viewer")
    config = json.loads(one(html, "meta", name="htmx-config")["content"])
    assert config["historyRestoreAsHxRequest"] is False
    assert {"code": "[45]..", "swap": True, "error": True} in config["responseHandling"]


def test_home_page_head_blocks_on_nothing_it_must_fetch(ui: Ui) -> None:
    html = ui.http.get("/").text

    scripts = select(html, "script")
    assert [s["src"].partition("?")[0] for s in scripts] == [
        "/static/htmx.min.js",
        "/static/app.js",
    ]
    assert all("defer" in s for s in scripts), scripts
    assert not select(html, "link", rel="stylesheet")
    assert ".planes {" in html  # the stylesheet, inline


def test_static_files_at_their_versioned_url_are_immutable_and_gzipped(ui: Ui) -> None:
    html = ui.http.get("/").text
    url = select(html, "script")[0]["src"]
    on_disk = (STATIC / "htmx.min.js").read_bytes()

    reply = ui.http.get(url, headers={"Accept-Encoding": "gzip"})
    again = ui.http.get(url, headers={"If-None-Match": reply.headers["etag"]})

    assert reply.status_code == 200
    assert reply.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert reply.headers["content-encoding"] == "gzip"
    assert reply.headers["content-type"].startswith("text/javascript")
    assert reply.content == on_disk  # decoded by the client
    assert reply.num_bytes_downloaded < len(on_disk)  # what travelled: compressed
    assert again.status_code == 304
    assert again.content == b""


def test_static_files_at_another_url_are_revalidated_and_unknown_ones_are_404(ui: Ui) -> None:
    plain = ui.http.get("/static/app.css", headers={"Accept-Encoding": "identity"})
    stale = ui.http.get("/static/app.css?v=0000000000000000")
    missing = ui.http.get("/static/nothing.css")

    assert plain.status_code == 200
    assert plain.headers["cache-control"] == "no-cache"
    assert "content-encoding" not in plain.headers
    assert plain.text.startswith("/* jejakekal UI.")
    assert stale.headers["cache-control"] == "no-cache"
    assert missing.status_code == 404


def test_home_page_sets_a_strict_csrf_cookie_and_puts_the_token_in_every_form(ui: Ui) -> None:
    reply = ui.http.get("/")

    cookie = reply.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie
    assert "samesite=strict" in cookie.lower()
    token = ui.http.cookies[COOKIE]
    forms = select(reply.text, "input", name="csrf_token")
    assert len(forms) >= 2 and {f["value"] for f in forms} == {token}
    assert token in one(reply.text, "body")["hx-headers"]


def test_vendored_htmx_keeps_its_licence_header(ui: Ui) -> None:
    script = ui.http.get("/static/htmx.min.js")
    licence = ui.http.get("/static/LICENSE-htmx")

    assert script.status_code == 200
    assert script.text.startswith("/*! htmx 2.")
    assert "Zero-Clause BSD" in licence.text


def test_healthz_reports_the_ui_role(ui: Ui) -> None:
    body = ui.http.get("/healthz").json()

    assert body["ok"] is True
    assert body["role"] == "ui"
    assert body["mode"] == "embedded"
    assert body["api_ok"] is True
    # bubblewrap isolates here, so a user's commands may run; no opt-in was needed.
    assert body["sandbox"] == {
        "isolation": "bwrap",
        "allow_unisolated": False,
        "foreign_commands": "allowed",
    }


def test_hx_request_gets_a_fragment_and_a_history_restore_gets_the_full_page(ui: Ui) -> None:
    run_id = ui.command("/doc fragments and pages.")

    fragment = ui.http.get(f"/runs/{run_id}", headers=HX)
    restore = ui.http.get(f"/runs/{run_id}", headers={"HX-History-Restore-Request": "true", **HX})
    restore_only = ui.http.get(f"/runs/{run_id}", headers={"HX-History-Restore-Request": "true"})
    direct = ui.http.get(f"/runs/{run_id}")

    assert "<html" not in fragment.text
    one(fragment.text, "div", id="exec")
    assert "HX-Request" in fragment.headers["vary"]
    for page in (restore, direct, restore_only):
        assert page.status_code == 200
        assert "<html" in page.text
        one(page.text, "section", id="conversation-plane")
        one(page.text, "div", id="exec", data_run_id=run_id)


# -- commands and CSRF -----------------------------------------------------------------
def test_doc_command_with_the_token_starts_one_run(ui: Ui) -> None:
    token = ui.token()
    before = runs_count(ui)

    reply = ui.post("/commands", {"command": "/doc alpha beta gamma.", "sleepMs": "0"}, token=token)

    assert reply.status_code == 200, reply.text
    assert runs_count(ui) == before + 1
    run_id = one(reply.text, "div", id="exec")["data-run-id"]
    assert reply.headers["HX-Push-Url"] == f"/runs/{run_id}"
    # The run list is refreshed out of band, newest first.
    run_list = one(reply.text, "ul", id="run-list")
    assert run_list["hx-swap-oob"] == "true"
    links = select(reply.text, "a", cls="run-link")
    assert links[0]["href"] == f"/runs/{run_id}"
    kind = ui.sql_count(
        q("SELECT COUNT(*) FROM app.runs WHERE id = '{r}' AND kind = 'doc'", r=run_id)
    )
    assert kind == 1


def test_doc_command_takes_sleep_ms_from_the_page(ui: Ui) -> None:
    page = ui.http.get("/?sleepMs=250")
    assert {f["value"] for f in select(page.text, "input", name="sleepMs")} == {"250"}

    run_id = ui.command("/doc sleepy text.", sleep_ms=250)

    request = ui.sql_count(
        q(
            "SELECT COUNT(*) FROM app.runs WHERE id = '{r}' AND CAST(request AS TEXT) LIKE '%250%'",
            r=run_id,
        )
    )
    assert request == 1


def test_plain_text_command_creates_an_intent_and_runs_it(ui: Ui) -> None:
    run_id = ui.command("summarise the week")

    html = ui.wait_detail(run_id, *TERMINAL)
    assert one(html, "a", cls="run-link")["data-status"] == "succeeded"
    goal = ui.sql_count("SELECT COUNT(*) FROM app.intents WHERE goal = 'summarise the week'")
    assert goal == 1


@pytest.mark.parametrize(
    "case", ["no token", "wrong token", "foreign origin", "no cookie", "plain form, no token"]
)
def test_command_without_a_matching_token_is_refused_and_writes_nothing(ui: Ui, case: str) -> None:
    token = ui.token()
    before = runs_count(ui), ui.sql_count("SELECT COUNT(*) FROM app.intents")
    data = {"command": "/doc must not run."}
    headers = dict(HX)
    if case == "wrong token":
        data["csrf_token"] = token[::-1]
    elif case in ("foreign origin", "no cookie"):
        data["csrf_token"] = token
        if case == "foreign origin":
            headers["Origin"] = "http://evil.example"
        else:
            ui.http.cookies.clear()
    elif case == "plain form, no token":
        headers = {}

    reply = ui.http.post("/commands", data=data, headers=headers)

    assert reply.status_code == 403
    assert "csrf_rejected" in reply.text
    assert (runs_count(ui), ui.sql_count("SELECT COUNT(*) FROM app.intents")) == before


def test_htmx_header_token_is_accepted_with_the_cookie(ui: Ui) -> None:
    token = ui.token()
    before = runs_count(ui)

    reply = ui.http.post(
        "/commands",
        data={"command": "/doc header token."},
        headers={**HX, "X-CSRF-Token": token, "Origin": ui.base_url},
    )

    assert reply.status_code == 200, reply.text
    assert runs_count(ui) == before + 1


def test_command_errors_come_back_as_a_notice(ui: Ui) -> None:
    reply = ui.post("/commands", {"command": "/doc"}, token=ui.token())

    assert reply.status_code == 400
    assert reply.headers["HX-Retarget"] == "#notice"
    assert "invalid_run_request" in reply.text


def test_a_document_pasted_without_doc_says_how_to_ingest_it_and_writes_nothing(
    ui: Ui,
) -> None:
    readme = "# A README\n\n" + "Some words of a long document. " * 200
    before = ui.sql_count("SELECT COUNT(*) FROM app.intents")

    reply = ui.post("/commands", {"command": readme}, token=ui.token())

    assert reply.status_code == 400
    assert "start it with /doc, or upload the file" in reply.text
    assert ui.sql_count("SELECT COUNT(*) FROM app.intents") == before


def test_plain_form_post_redirects_to_the_run_page(ui: Ui) -> None:
    reply = ui.post("/commands", {"command": "/doc no script."}, token=ui.token(), hx=False)

    assert reply.status_code == 303
    assert reply.headers["location"].startswith("/runs/doc-")


# -- a run's execution plane -----------------------------------------------------------
def test_done_doc_run_shows_its_timeline_artifacts_and_no_actions(ui: Ui) -> None:
    run_id = ui.command("/doc alpha beta gamma. Second sentence.", sleep_ms=20)

    html = ui.wait_detail(run_id, *DOC_TERMINAL)

    exec_div = one(html, "div", id="exec")
    assert "hx-trigger" not in exec_div, "a finished run must stop polling"
    assert one(html, id="run-status", hx_swap_oob="true")["data-state"] == "done"
    names = [step["data-name"] for step in select(html, cls="step")]
    assert names == ["prepare", "DBOS.sleep", "side-effect", "finalize"]
    ids = [int(step["data-function-id"]) for step in select(html, cls="step")]
    assert ids == sorted(ids)
    for action in ("action-retry", "action-resume", "action-cancel", "action-answer"):
        assert select(html, id=action) == []
    assert select(html, "form", id="answer-form") == []
    artifacts = one(html, "ul", id="artifacts")
    assert artifacts["hx-swap-oob"] == "true"
    types = [a["data-type"] for a in select(html, "a", cls="artifact-link")]
    assert types == ["raw", "docir", "chunk-index", "memo"]


def test_live_run_polls_every_second_and_cancel_then_resume(ui: Ui) -> None:
    run_id = ui.command("/doc a long nap.", sleep_ms=4000)

    live = ui.fragment(run_id)
    exec_div = one(live, "div", id="exec")
    assert exec_div["hx-trigger"] == "every 1s"
    # The poll's answer marks what the page has seen (web/following.py).
    assert exec_div["hx-get"].startswith(f"/fragments/runs/{run_id}?seen=")
    assert one(live, id="run-status", hx_swap_oob="true")["data-state"] == "running"
    one(live, "button", id="action-cancel")
    assert select(live, id="action-resume") == []

    cancelled = ui.post(f"/runs/{run_id}/cancel", {}, token=ui.token())
    assert cancelled.status_code == 200, cancelled.text
    html = ui.wait_detail(run_id, "unknown")
    assert one(html, id="run-status", hx_swap_oob="true")["data-state"] == "error"
    assert "hx-trigger" not in one(html, "div", id="exec")
    one(html, "button", id="action-resume")
    assert select(html, id="action-cancel") == []

    resumed = ui.post(f"/runs/{run_id}/resume", {}, token=ui.token())
    assert resumed.status_code == 200, resumed.text
    done = ui.wait_detail(run_id, "done")
    assert one(done, id="run-status", hx_swap_oob="true")["data-state"] == "done"


def test_waiting_run_shows_the_answer_form_and_the_answer_resumes_it(ui: Ui) -> None:
    run_id = ui.command("ask user")

    html = ui.wait_detail(run_id, "waiting_input")

    form = one(html, "form", id="answer-form")
    assert form["hx-post"] == f"/runs/{run_id}/answer"
    one(html, "label", **{"for": "answer"})
    one(html, "input", id="answer")
    one(html, "button", id="action-answer")
    one(html, "button", id="action-cancel")
    assert select(html, id="action-retry") == []
    assert one(html, "div", id="exec")["hx-trigger"] == "every 1s"

    answered = ui.post(f"/runs/{run_id}/answer", {"answer": "yes, go"}, token=ui.token())

    assert answered.status_code == 200, answered.text
    done = ui.wait_detail(run_id, "succeeded")
    assert select(done, "form", id="answer-form") == []
    assert one(done, id="run-status", hx_swap_oob="true")["data-state"] == "done"


def test_answer_needs_the_token(ui: Ui) -> None:
    run_id = ui.command("ask before answering")
    ui.wait_detail(run_id, "waiting_input")

    refused = ui.post(f"/runs/{run_id}/answer", {"answer": "sneaky"}, token=None)

    assert refused.status_code == 403
    assert one(ui.fragment(run_id), "a", cls="run-link")["data-status"] == "waiting_input"


def test_failed_run_shows_retry(ui: Ui) -> None:
    run_id = ui.command("fail always")

    html = ui.wait_detail(run_id, "failed", "retries_exceeded")

    one(html, "button", id="action-retry")
    assert select(html, id="action-answer") == []
    assert one(html, id="run-status", hx_swap_oob="true")["data-state"] == "error"
    assert select(html, cls="failed"), "the failed operation is marked"
    if one(html, "a", cls="run-link")["data-status"] == "retries_exceeded":
        assert select(html, cls="attempts"), "ExecuteST's attempts are shown on its bar"


def start_script_run(kernel: Kernel, goal: str, *commands: str) -> str:
    """An intent whose inputs carry shell commands, run with the `script` recipe."""
    control = kernel.control
    intent = IntentCreate(goal=goal, inputs={"commands": list(commands)}, constraints={})
    intent_id = control.create_intent(intent)
    return control.start_intent_run(intent_id, RunRequest(recipeName="script")).run_id


def test_a_script_run_shows_its_goal_recipe_command_and_stdout_artifact(
    ui: Ui, kernel: Kernel
) -> None:
    run_id = start_script_run(kernel, "say hello to the UI", "echo hello-ui")

    ui.wait_detail(run_id, "succeeded", timeout=60)
    page = ui.http.get(f"/runs/{run_id}").text

    assert '<h3 id="run-goal" class="run-goal">say hello to the UI</h3>' in page
    assert '<dd id="run-recipe">script</dd>' in page
    node = one(page, "li", cls="plan-node")
    assert node["data-node-id"] == "exec-1"
    assert "echo hello-ui</code>" in page
    link = one(page, "a", cls="artifact-link", href=f"/artifacts/{run_id}:exec-1:a1:stdout")
    assert link["data-type"] == "stdout"
    one(page, "a", cls="artifact-download", href=f"/artifacts/{run_id}:exec-1:a1:stdout/download")
    item = page.partition(f'id="run-item-{run_id}"')[2].partition("</li>")[0]
    assert '<span class="run-goal">say hello to the UI</span>' in item
    assert '<span class="run-recipe">script</span>' in item


def test_a_node_output_downloads_as_an_attachment(ui: Ui, kernel: Kernel) -> None:
    run_id = start_script_run(kernel, "download me", "echo hello-ui")
    ui.wait_detail(run_id, "succeeded", timeout=60)

    reply = ui.http.get(f"/artifacts/{run_id}:exec-1:a1:stdout/download")
    missing = ui.http.get(f"/artifacts/{run_id}:exec-9:a1:stdout/download")

    assert reply.status_code == 200
    assert reply.content == b"hello-ui\n"
    assert reply.headers["content-disposition"].startswith("attachment; filename=")
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert missing.status_code == 404


def test_the_page_says_when_foreign_commands_run_unisolated_or_are_refused(
    ui: Ui, kernel: Kernel
) -> None:
    ctx = kernel.control.ctx
    isolated = ui.http.get("/").text
    ctx.isolation = lambda: "subprocess"
    refused = ui.http.get("/").text
    ctx.settings = ctx.settings.with_overrides(allow_unisolated=True)
    unisolated = ui.http.get("/").text

    assert select(isolated, id="sandbox-banner") == []
    assert "sandbox bwrap" in isolated
    assert one(refused, id="sandbox-banner")["data-foreign-commands"] == "refused"
    assert one(unisolated, id="sandbox-banner")["data-foreign-commands"] == "unisolated"
    assert "sandbox subprocess" in unisolated


# -- deep links ------------------------------------------------------------------------
def test_run_deep_link_highlights_the_step(ui: Ui) -> None:
    run_id = ui.command("/doc deep link.")
    ui.wait_detail(run_id, "done")

    page = ui.http.get(f"/runs/{run_id}?step=3")

    assert page.status_code == 200
    selected = one(page.text, "li", cls="selected")
    assert selected["data-function-id"] == "3"
    assert selected["data-name"] == "side-effect"
    assert one(page.text, id="run-status")["data-state"] == "done"


def test_artifact_deep_link_shows_the_memo_with_citations_and_the_producer_link(ui: Ui) -> None:
    run_id = ui.command("/doc Alpha beta gamma. Delta.\n\nEpsilon zeta.")
    ui.wait_detail(run_id, "done")

    page = ui.http.get(f"/artifacts/{run_id}:memo")

    assert page.status_code == 200
    one(page.text, "section", id="artifact-plane")
    producer = one(page.text, "a", id="producer-step")
    assert producer["href"] == f"/runs/{run_id}?step=3"
    citations = select(page.text, "a", cls="citation")
    assert len(citations) == 2
    assert (citations[0]["data-start"], citations[0]["data-end"]) == ("0", "17")
    assert citations[0]["data-chunk-id"].startswith("c-")
    assert "Alpha beta gamma. Delta." in page.text
    one(page.text, "pre", id="doc-text")


def test_artifact_fragment_shows_chunks_with_offsets_and_text_as_text(ui: Ui) -> None:
    run_id = ui.command("/doc <b>not markup</b>")
    ui.wait_detail(run_id, "done")

    chunks = ui.http.get(f"/artifacts/{run_id}:chunk-index", headers=HX)
    raw = ui.http.get(f"/artifacts/{run_id}:raw", headers=HX)

    assert "<html" not in chunks.text
    one(chunks.text, id="artifact-viewer")
    chunk = one(chunks.text, "li", cls="chunk")
    assert (chunk["data-start"], chunk["data-end"]) == ("0", "17")
    assert "&lt;b&gt;not markup&lt;/b&gt;" in raw.text
    assert select(raw.text, "b") == []


@pytest.mark.parametrize(
    ("path", "status"),
    [("/runs/run-nope", 404), ("/artifacts/nope:memo", 404), ("/runs/..%2Fetc", 400)],
)
def test_unknown_or_bad_ids_render_a_page_with_the_reason(ui: Ui, path: str, status: int) -> None:
    reply = ui.http.get(path)

    assert reply.status_code == status
    one(reply.text, "section", id="conversation-plane")


# -- split mode ------------------------------------------------------------------------
@pytest.fixture
def split_ui(api: Api) -> Iterator[Ui]:
    server, thread, port = serve_ui(api.settings, HttpClient(api.base_url))
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=30) as http:
        try:
            yield Ui(base, http, api.settings, api=api.client)
        finally:
            server.should_exit = True
            thread.join(timeout=30)


def test_split_mode_ui_starts_runs_through_the_api(split_ui: Ui, api: Api) -> None:
    before = api.count("SELECT COUNT(*) FROM app.runs")

    run_id = split_ui.command("/doc split mode text.")

    assert api.count("SELECT COUNT(*) FROM app.runs") == before + 1
    assert api.wait_status(run_id, "done")["status"] == "done"
    page = split_ui.http.get("/")
    assert one(page.text, "a", href=f"/runs/{run_id}")["data-status"] in {"running", "done"}
    health = split_ui.http.get("/healthz").json()
    assert (health["mode"], health["api_ok"]) == ("split", True)
    assert health["sandbox"] == api.client.get("/healthz").json()["sandbox"]


def test_split_mode_shows_a_script_runs_plan_and_downloads_its_stdout(
    split_ui: Ui, api: Api
) -> None:
    body = {"goal": "split hello", "inputs": {"commands": ["echo hello-ui"]}, "constraints": {}}
    intent_id = api.client.post("/intents", json=body).json()["intentId"]
    run_id = api.start(intent_id, {"recipeName": "script"})["runId"]
    api.wait_status(run_id, "succeeded", timeout=60)

    page = split_ui.http.get(f"/runs/{run_id}").text
    download = split_ui.http.get(f"/artifacts/{run_id}:exec-1:a1:stdout/download")

    assert '<h3 id="run-goal" class="run-goal">split hello</h3>' in page
    assert "echo hello-ui</code>" in page
    assert download.status_code == 200
    assert download.content == b"hello-ui\n"
    assert download.headers["content-disposition"].startswith("attachment; filename=")


def test_split_mode_maps_the_api_errors(split_ui: Ui) -> None:
    missing = split_ui.http.get("/runs/run-missing")
    conflict = split_ui.post("/runs/run-missing/retry", {}, token=split_ui.token())

    assert missing.status_code == 404
    assert "no run with that id" in missing.text
    assert conflict.status_code == 404
    assert "run_not_found" in conflict.text


# -- processes -------------------------------------------------------------------------
@pytest.mark.parametrize("busy", ["API_PORT", "UI_PORT"])
def test_serve_fails_at_once_with_one_line_when_either_port_is_taken(
    busy: str, tmp_path: Path
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        ports = {"API_PORT": str(free_port()), "UI_PORT": str(free_port()), busy: str(taken)}
        env = {**os.environ, "JEJAKEKAL_HOME": str(tmp_path), **ports}

        result = subprocess.run(
            [sys.executable, "-m", "jejakekal.cli.main", "serve"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"port {taken}" in lines[0]
    assert busy in lines[0]
    assert not (tmp_path / "jejakekal.sqlite").exists(), "nothing starts before the check"
