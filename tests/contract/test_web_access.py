"""Who may reach the UI and the API, and what the UI sends back (issue 20, sections 5 and 7).

With a token configured, every page, fragment and form needs a session (from the login
form) or the bearer token; both apps answer only Host names on their allow-list; every
UI answer carries a strict Content-Security-Policy; a missing run is an error, never
idle; a command may be as large as the API accepts. On both backends, with SQL as the
oracle for "writes nothing".
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from test_web import one, select

from conftest import Api, free_port, serve_app_in_thread
from jejakekal.app import create_api_app
from jejakekal.bootstrap import Kernel
from jejakekal.config import Settings
from jejakekal.domain.contracts import MAX_BODY_BYTES
from jejakekal.storage.console import run_readonly
from jejakekal.web import HttpClient, InProcessClient, UiClient, create_ui_app
from jejakekal.web.csrf import COOKIE as CSRF_COOKIE
from jejakekal.web.session import COOKIE as SESSION_COOKIE

TOKEN = "s3cret-token-for-tests"
HX = {"HX-Request": "true"}
WRITES = ("app.runs", "app.intents", "dbos.workflow_status")


@dataclass
class Served:
    """A UI on a loopback port and a browser-like client that follows no redirect."""

    base_url: str
    http: httpx.Client
    settings: Settings

    def rows(self) -> tuple[int, ...]:
        url = self.settings.resolved_database_url
        return tuple(int(run_readonly(url, f"SELECT COUNT(*) FROM {t}")[1][0][0]) for t in WRITES)

    def csrf(self) -> str:
        """A CSRF cookie, as any visitor gets one: from the login form with a token
        configured, from the home page without."""
        self.http.get("/login" if self.settings.api_token else "/")
        token = self.http.cookies.get(CSRF_COOKIE)
        assert token, "the login form set no CSRF cookie"
        return token

    def sign_in(self, token: str = TOKEN, next_path: str = "/") -> httpx.Response:
        csrf = self.csrf()
        return self.http.post(
            "/login", data={"token": token, "next": next_path, "csrf_token": csrf}
        )


def _serve(settings: Settings, client: UiClient) -> Iterator[Served]:
    server, thread, port = serve_app_in_thread(create_ui_app(settings, client))
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=30, follow_redirects=False) as http:
        try:
            yield Served(base, http, settings)
        finally:
            _stop(server, thread)


def _stop(server: uvicorn.Server, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture
def guarded(settings: Settings, kernel: Kernel) -> Iterator[Served]:
    """The UI of a server that has a token (on loopback: the token still counts)."""
    yield from _serve(settings.with_overrides(api_token=TOKEN), InProcessClient(kernel.control))


@pytest.fixture
def open_ui(settings: Settings, kernel: Kernel) -> Iterator[Served]:
    """The UI of a server without a token, and with one extra allowed Host name."""
    extra = settings.with_overrides(allowed_hosts=("ui.example",))
    yield from _serve(extra, InProcessClient(kernel.control))


def _bearer_command(ui: Served, text: str) -> str:
    reply = ui.http.post(
        "/commands",
        data={"command": text},
        headers={**HX, "Authorization": f"Bearer {TOKEN}"},
    )
    assert reply.status_code == 200, reply.text
    return one(reply.text, "div", id="exec")["data-run-id"]


def _wait_done(ui: Served, run_id: str) -> None:
    bearer = {**HX, "Authorization": f"Bearer {TOKEN}"}
    for _ in range(600):
        html = ui.http.get(f"/fragments/runs/{run_id}", headers=bearer).text
        if one(html, "a", cls="run-link")["data-status"] in ("done", "error", "unknown"):
            return
        threading.Event().wait(0.05)
    raise AssertionError(f"run {run_id} did not finish")


# -- the token covers the UI -----------------------------------------------------------
GUARDED = [
    ("GET", "/"),
    ("GET", "/runs/{run}"),
    ("GET", "/runs/{run}?step=2"),
    ("GET", "/fragments/runs"),
    ("GET", "/fragments/runs/{run}"),
    ("GET", "/artifacts/{run}:raw"),
    ("GET", "/fragments/artifacts/{run}:raw"),
    ("GET", "/no/such/page"),
    ("POST", "/commands"),
    ("POST", "/runs/{run}/answer"),
    ("POST", "/runs/{run}/retry"),
    ("POST", "/runs/{run}/resume"),
    ("POST", "/runs/{run}/cancel"),
    ("POST", "/logout"),
]


@pytest.mark.parametrize("how", ["direct", "htmx", "wrong bearer", "forged session"])
def test_with_a_token_no_page_fragment_or_form_works_without_it(guarded: Served, how: str) -> None:
    run_id = _bearer_command(guarded, "/doc a run nobody else may see.")
    _wait_done(guarded, run_id)  # so the row counts move only if a refused request writes
    csrf = guarded.csrf()
    before = guarded.rows()
    headers = {"HX-Request": "true"} if how == "htmx" else {}
    if how == "wrong bearer":
        headers["Authorization"] = f"Bearer {TOKEN}x"
    if how == "forged session":
        guarded.http.cookies.set(SESSION_COOKIE, TOKEN)

    for method, template in GUARDED:
        path = template.format(run=run_id)
        data = {"command": "/doc sneaked in.", "answer": "yes", "csrf_token": csrf}
        reply = guarded.http.request(
            method, path, headers=headers, data=data if method == "POST" else None
        )

        shown = f"{method} {path} ({how}): {reply.status_code}"
        assert reply.status_code in (303, 401), shown
        assert run_id not in reply.text, shown
        if reply.status_code == 303:
            assert reply.headers["location"].startswith("/login"), shown
    assert guarded.rows() == before


def test_a_direct_load_goes_to_the_login_form_and_back_to_where_it_was_going(
    guarded: Served,
) -> None:
    reply = guarded.http.get("/runs/doc-x?step=2")

    assert reply.status_code == 303
    target = reply.headers["location"]
    assert target == "/login?next=" + quote("/runs/doc-x?step=2", safe="")
    form = guarded.http.get(target)
    assert form.status_code == 200
    assert one(form.text, "input", name="next")["value"] == "/runs/doc-x?step=2"
    one(form.text, "input", name="token", type="password")
    assert select(form.text, "ul", id="run-list") == [], "the login form shows no runs"


def test_htmx_without_a_session_gets_401_and_a_way_back_to_login(guarded: Served) -> None:
    reply = guarded.http.get(
        "/fragments/runs/doc-x",
        headers={**HX, "HX-Current-URL": f"{guarded.base_url}/runs/doc-x"},
    )

    assert reply.status_code == 401
    assert reply.headers["HX-Redirect"] == "/login?next=%2Fruns%2Fdoc-x"


def test_login_sets_a_strict_httponly_session_cookie_that_is_not_the_token(
    guarded: Served,
) -> None:
    reply = guarded.sign_in(next_path="/fragments/runs")

    assert reply.status_code == 303
    assert reply.headers["location"] == "/fragments/runs"
    cookie = reply.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "httponly" in cookie.lower()
    assert "samesite=strict" in cookie.lower()
    assert TOKEN not in cookie
    page = guarded.http.get("/")
    assert page.status_code == 200
    one(page.text, "section", id="conversation-plane")
    one(page.text, "button", id="sign-out")


@pytest.mark.parametrize("wrong", ["", "s3cret", TOKEN + " ", TOKEN.upper()])
def test_login_with_a_wrong_token_is_refused_and_opens_nothing(guarded: Served, wrong: str) -> None:
    reply = guarded.sign_in(token=wrong)

    assert reply.status_code == 401
    one(reply.text, id="login-error")
    assert SESSION_COOKIE not in guarded.http.cookies
    assert guarded.http.get("/").status_code == 303


def test_login_without_the_csrf_token_is_refused(guarded: Served) -> None:
    guarded.csrf()

    reply = guarded.http.post("/login", data={"token": TOKEN, "next": "/"})

    assert reply.status_code == 403
    assert SESSION_COOKIE not in guarded.http.cookies


@pytest.mark.parametrize("next_path", ["https://evil.example/", "//evil.example/x", "/\\evil"])
def test_login_never_sends_the_browser_to_another_site(guarded: Served, next_path: str) -> None:
    reply = guarded.sign_in(next_path=next_path)

    assert reply.status_code == 303
    assert reply.headers["location"] == "/"


def test_a_session_works_every_form_and_logout_ends_it(guarded: Served) -> None:
    guarded.sign_in()
    csrf = guarded.http.cookies[CSRF_COOKIE]
    before = guarded.rows()[0]

    started = guarded.http.post(
        "/commands", data={"command": "/doc signed in.", "csrf_token": csrf}, headers=HX
    )
    assert started.status_code == 200, started.text
    assert guarded.rows()[0] == before + 1
    out = guarded.http.post("/logout", data={"csrf_token": csrf})

    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    assert SESSION_COOKIE not in guarded.http.cookies
    assert guarded.http.get("/").status_code == 303


def test_a_script_with_the_bearer_token_needs_no_session_and_no_csrf(guarded: Served) -> None:
    before = guarded.rows()[0]

    run_id = _bearer_command(guarded, "/doc from a script.")

    assert guarded.rows()[0] == before + 1
    page = guarded.http.get(f"/runs/{run_id}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert page.status_code == 200
    one(page.text, "div", id="exec", data_run_id=run_id)


def test_static_files_health_and_the_login_form_need_no_token(guarded: Served) -> None:
    for path in ("/static/app.js", "/healthz", "/login"):
        assert guarded.http.get(path).status_code == 200, path
    missing = guarded.http.get("/static/nothing.css")
    assert missing.status_code == 404
    assert select(missing.text, "ul", id="run-list") == []


def test_without_a_token_the_login_form_is_not_needed(open_ui: Served) -> None:
    assert open_ui.http.get("/login?next=/fragments/runs").headers["location"] == "/fragments/runs"
    page = open_ui.http.get("/")
    assert page.status_code == 200
    assert select(page.text, "button", id="sign-out") == []


def test_split_mode_ui_with_a_token_reaches_an_api_that_needs_it(settings: Settings) -> None:
    guarded_settings = settings.with_overrides(api_token=TOKEN)
    api_server, api_thread, api_port = serve_app_in_thread(create_api_app(guarded_settings, "full"))
    api_url = f"http://127.0.0.1:{api_port}"
    try:
        assert httpx.get(f"{api_url}/runs").status_code == 401
        for ui in _serve(guarded_settings, HttpClient(api_url, TOKEN)):
            before = ui.rows()[0]
            ui.sign_in()
            csrf = ui.http.cookies[CSRF_COOKIE]
            reply = ui.http.post(
                "/commands", data={"command": "/doc split and signed in.", "csrf_token": csrf}
            )
            assert reply.status_code == 303, reply.text
            assert ui.rows()[0] == before + 1
    finally:
        _stop(api_server, api_thread)


# -- the Host allow-list ---------------------------------------------------------------
def _raw_request(port: int, head: str, body: bytes = b"") -> tuple[int, str]:
    """One HTTP/1.1 request as written (httpx always sends the Host it was given)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(head.encode("latin-1") + b"\r\n" + body)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    reply = b"".join(chunks).decode("utf-8", errors="replace")
    return int(reply.split(" ", 2)[1]), reply


BAD_HOSTS = ["evil.example", "evil.example:4110", "127.0.0.1.evil.example", "localhost.evil"]


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_ui_refuses_a_host_off_the_allow_list_before_anything_else(
    open_ui: Served, host: str
) -> None:
    csrf = open_ui.csrf()
    before = open_ui.rows()

    page = open_ui.http.get("/", headers={"Host": host})
    post = open_ui.http.post(
        "/commands",
        data={"command": "/doc rebound.", "csrf_token": csrf},
        headers={**HX, "Host": host, "Origin": f"http://{host}"},
    )

    assert (page.status_code, post.status_code) == (421, 421)
    assert "host_not_allowed" in post.text
    assert open_ui.rows() == before


def test_ui_refuses_a_request_without_a_host(open_ui: Served) -> None:
    port = int(open_ui.base_url.rsplit(":", 1)[1])

    status, _ = _raw_request(port, "GET / HTTP/1.0\r\nConnection: close\r\n")

    assert status == 421


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "[::1]", "ui.example"])
def test_ui_answers_loopback_names_and_the_configured_ones(open_ui: Served, name: str) -> None:
    port = open_ui.base_url.rsplit(":", 1)[1]

    reply = open_ui.http.get("/", headers={"Host": f"{name}:{port}"})

    assert reply.status_code == 200


def test_ui_form_from_an_allowed_name_passes_the_origin_check(open_ui: Served) -> None:
    csrf = open_ui.csrf()
    port = open_ui.base_url.rsplit(":", 1)[1]
    before = open_ui.rows()[0]

    reply = open_ui.http.post(
        "/commands",
        data={"command": "/doc from a configured name.", "csrf_token": csrf},
        headers={**HX, "Host": f"ui.example:{port}", "Origin": f"http://ui.example:{port}"},
    )

    assert reply.status_code == 200, reply.text
    assert open_ui.rows()[0] == before + 1


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_api_refuses_a_host_off_the_allow_list_with_a_typed_421(api: Api, host: str) -> None:
    before = tuple(api.count(f"SELECT COUNT(*) FROM {t}") for t in WRITES)

    listed = api.client.get("/artifacts", headers={"Host": host})
    created = api.client.post(
        "/intents",
        json={"goal": "rebound", "inputs": {}, "constraints": {}},
        headers={"Host": host},
    )
    started = api.client.post("/runs", json={"source": "rebound"}, headers={"Host": host})

    for reply in (listed, created, started):
        assert reply.status_code == 421
        body = reply.json()
        assert (body["error"], body["code"]) == ("host_not_allowed", "host_not_allowed")
        assert "JEJAKEKAL_ALLOWED_HOSTS" in body["message"]
    assert tuple(api.count(f"SELECT COUNT(*) FROM {t}") for t in WRITES) == before
    assert api.client.get("/artifacts", headers={"Host": "localhost"}).status_code == 200


# -- Content-Security-Policy -----------------------------------------------------------
def _csp(reply: httpx.Response) -> dict[str, str]:
    policy = reply.headers["content-security-policy"]
    return {
        part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2] for part in policy.split(";")
    }


def test_every_ui_answer_carries_a_strict_csp_and_the_page_needs_nothing_inline(
    open_ui: Served,
) -> None:
    csrf = open_ui.csrf()
    done = open_ui.http.post(
        "/commands", data={"command": "/doc policy check.", "csrf_token": csrf}, headers=HX
    )
    run_id = one(done.text, "div", id="exec")["data-run-id"]
    _wait_done(open_ui, run_id)  # so its timeline has bars to check
    page = open_ui.http.get(f"/runs/{run_id}")
    answers = [
        page,
        open_ui.http.get(f"/fragments/runs/{run_id}", headers=HX),
        open_ui.http.get("/static/app.js"),
        open_ui.http.get("/healthz"),
        open_ui.http.get("/no/such/page"),
        open_ui.http.get("/", headers={"Host": "evil.example"}),
    ]

    for reply in answers:
        policy = _csp(reply)
        assert policy["script-src"] == "'self'", reply.url
        assert "unsafe" not in reply.headers["content-security-policy"]
        assert policy["default-src"] == "'none'"
        assert policy["frame-ancestors"] == "'none'"
    # The one inline stylesheet is allowed by its hash, and nothing else inline is.
    inline = re.search(r"<style>(.*?)</style>", page.text, re.S)
    assert inline, "the page's stylesheet is inline"
    digest = base64.b64encode(hashlib.sha256(inline[1].encode()).digest()).decode()
    assert _csp(page)["style-src"] == f"'self' 'sha256-{digest}'"
    assert len(select(page.text, "style")) == 1
    for reply in answers[:2]:
        assert not re.search(r"\sstyle=", reply.text), "a style attribute the CSP refuses"
        assert not re.search(r"<script(?![^>]*\bsrc=)", reply.text), "an inline script"
    assert select(answers[1].text, cls="bar"), "the fragment has timeline bars"
    config = one(page.text, "meta", name="htmx-config")["content"]
    for setting in ('"includeIndicatorStyles": false', '"allowEval": false'):
        assert setting in config


# -- the execution plane: a missing run is an error, never idle ------------------------
@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("/runs/run-nope", 404, "no run with that id"),
        ("/runs/..%2Fetc", 400, "run id"),
        ("/fragments/runs/run-gone", 404, "no run with that id"),
    ],
)
@pytest.mark.parametrize("hx", [False, True])
def test_a_missing_or_invalid_run_shows_the_error_state_with_the_reason(
    open_ui: Served, path: str, status: int, reason: str, hx: bool
) -> None:
    reply = open_ui.http.get(path, headers=HX if hx else {})

    assert reply.status_code == status
    states = [status["data-state"] for status in select(reply.text, id="run-status")]
    assert states and set(states) == {"error"}, states
    assert reason in reply.text
    assert "hx-trigger" not in one(reply.text, "div", id="exec"), "a missing run stops polling"


def test_the_home_page_without_a_run_is_still_idle(open_ui: Served) -> None:
    assert one(open_ui.http.get("/").text, id="run-status")["data-state"] == "idle"


# -- the command box takes what the API takes ------------------------------------------
def test_a_pasted_document_as_large_as_the_api_accepts_starts_a_run(open_ui: Served) -> None:
    csrf = open_ui.csrf()
    before = open_ui.rows()[0]
    # 2 bytes of UTF-8 per character, 6 characters (%C3%A9) in the form: 900 kB of JSON.
    text = "/doc " + ("é" * 9 + " ") * 47_000

    reply = open_ui.http.post("/commands", data={"command": text, "csrf_token": csrf}, headers=HX)

    assert reply.status_code == 200, reply.text[:300]
    assert open_ui.rows()[0] == before + 1


@pytest.mark.parametrize("size", ["json", "form"])
def test_a_paste_over_the_limit_says_so_with_the_limit_and_writes_nothing(
    open_ui: Served, size: str
) -> None:
    csrf = open_ui.csrf()
    before = open_ui.rows()
    # Just over the JSON limit; or a form so large it is refused before it is read.
    count = MAX_BODY_BYTES if size == "json" else 3 * MAX_BODY_BYTES
    text = "/doc " + "a" * count

    reply = open_ui.http.post("/commands", data={"command": text, "csrf_token": csrf}, headers=HX)

    assert reply.status_code == 413
    assert "payload_too_large" in reply.text
    assert str(MAX_BODY_BYTES) in reply.text
    assert reply.headers["HX-Retarget"] == "#notice"
    assert open_ui.rows() == before


# -- processes -------------------------------------------------------------------------
def test_serve_refuses_an_allowed_host_that_is_no_host_name_in_one_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "JEJAKEKAL_HOME": str(tmp_path),
        "API_PORT": str(free_port()),
        "UI_PORT": str(free_port()),
        "JEJAKEKAL_ALLOWED_HOSTS": "ui.example, http://ui.example/",
    }

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
    assert "JEJAKEKAL_ALLOWED_HOSTS" in lines[0]
    assert "'http://ui.example/'" in lines[0]
    assert not (tmp_path / "jejakekal.sqlite").exists(), "nothing starts before the check"


def test_api_refuses_a_request_without_a_host(api: Api) -> None:
    port = int(api.base_url.rsplit(":", 1)[1])

    status, reply = _raw_request(port, "GET /artifacts HTTP/1.0\r\nConnection: close\r\n")

    assert status == 421
    assert '"host_not_allowed"' in reply


def test_an_api_bound_to_every_address_answers_the_names_the_operator_configured(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "JEJAKEKAL_HOME": str(tmp_path),
        "JEJAKEKAL_API_TOKEN": TOKEN,
        "JEJAKEKAL_ALLOWED_HOSTS": "ops.example",
    }
    for name in ("JEJAKEKAL_DATABASE_URL", "DATABASE_URL", "PORT", "API_PORT"):
        env.pop(name, None)
    cli = [sys.executable, "-m", "jejakekal.cli.main", "api", "--host", "0.0.0.0"]
    server = subprocess.Popen([*cli, "--port", str(port)], env=env, stdout=subprocess.DEVNULL)
    try:
        named = _wait_for(f"http://127.0.0.1:{port}/healthz", {"Host": f"ops.example:{port}"})
        other = httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"Host": "other.example"})
        loopback = httpx.get(f"http://127.0.0.1:{port}/healthz")
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert named.status_code == 200
    assert other.status_code == 421
    assert loopback.status_code == 200


def _wait_for(url: str, headers: dict[str, str]) -> httpx.Response:
    for _ in range(600):  # the process starts in a few seconds; give it up to 60
        try:
            return httpx.get(url, headers=headers, timeout=2)
        except httpx.TransportError:
            threading.Event().wait(0.1)
    raise AssertionError(f"{url} never answered")
