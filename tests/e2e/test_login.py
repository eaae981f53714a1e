"""With JEJAKEKAL_API_TOKEN set, the UI needs it too: the login form in a real Chromium,
in one process and in split mode, and the page's Content-Security-Policy at work."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from e2e.conftest import DESKTOP, REPORT_CSP, TOKEN, Served, expect_full_page

RUN_TIMEOUT = 30_000


def test_a_login_takes_the_browser_to_the_page_it_asked_for_and_its_forms_work(
    page: Page, served_with_token: Served
) -> None:
    served = served_with_token
    run_id = served.start_doc("alpha beta gamma for the signed in")
    served.wait_run(run_id, "done")

    page.goto(f"{served.url}/runs/{run_id}")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(page.locator("#run-list")).to_have_count(0)
    page.locator("#token").fill("not the token")
    page.locator("#login-submit").click()
    expect(page.locator("#login-error")).to_be_visible()

    page.locator("#token").fill(TOKEN)
    page.locator("#login-submit").click()

    expect(page).to_have_url(re.compile(rf"/runs/{re.escape(run_id)}$"))
    expect_full_page(page)
    expect(page.locator("#run-status")).to_have_attribute("data-state", "done")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["jejakekal_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert TOKEN not in session["value"]
    page.locator("#command").fill("/doc typed after signing in")
    page.locator("#command-submit").click()
    # The earlier run was done too: wait for the new one to replace it, then for done.
    expect(page.locator("#exec")).not_to_have_attribute("data-run-id", run_id)
    expect(page.locator("#run-status")).to_have_attribute("data-state", "done", timeout=RUN_TIMEOUT)
    assert served.newest_run()["run_id"] != run_id

    page.locator("#sign-out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto(served.url + "/")
    expect(page).to_have_url(re.compile(r"/login$"))


def test_a_poll_after_the_session_ends_sends_the_page_to_the_login_form(
    page: Page, served_with_token: Served
) -> None:
    served = served_with_token
    run_id = served.start_doc("a long nap", sleep_ms=20_000)
    page.goto(f"{served.url}/login?next=/runs/{run_id}")
    page.locator("#token").fill(TOKEN)
    page.locator("#login-submit").click()
    expect(page.locator("#run-status")).to_have_attribute("data-state", "running")

    page.context.clear_cookies()

    # The next poll (every second) is answered 401 with HX-Redirect: back to the form.
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fruns%2F"), timeout=RUN_TIMEOUT)
    page.locator("#token").fill(TOKEN)
    page.locator("#login-submit").click()
    expect(page).to_have_url(re.compile(rf"/runs/{re.escape(run_id)}$"))
    served.http.post(f"/runs/{run_id}/cancel")


def test_the_policy_refuses_what_the_pages_no_longer_need_and_the_watch_sees_it(
    browser: Browser, served: Served
) -> None:
    """The proof the CSP watch of every browser test can fail: an inline style and an
    inline script are refused and reported."""
    context = browser.new_context(viewport=DESKTOP)
    seen: list[str] = []
    context.expose_binding("__reportCsp", lambda _source, text: seen.append(str(text)))
    context.add_init_script(REPORT_CSP)
    tab = context.new_page()
    tab.goto(served.url + "/")
    expect(tab.locator("#run-status")).to_have_attribute("data-state", "idle")

    tab.evaluate(
        """() => {
        const div = document.createElement('div');
        div.innerHTML = '<p style="color: red">x</p>';
        document.body.append(div);
        const script = document.createElement('script');
        script.textContent = 'window.__ran = true';
        document.body.append(script);
    }"""
    )

    for _ in range(50):  # reports arrive as events; give them up to 5 s
        if len(seen) >= 2:
            break
        tab.wait_for_timeout(100)
    assert any("style-src" in v for v in seen), seen
    assert any("script-src" in v for v in seen), seen
    assert tab.evaluate("window.__ran === undefined")
    context.close()
