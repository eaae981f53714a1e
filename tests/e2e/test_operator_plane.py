"""The operator's plane in Chromium (issue 25): "Fork from here" on a finished run's
timeline lands on the new run's page, which names its parent and finishes; a cancel
carries the reason typed beside the button into the run's audit (SQL the oracle); and
"Export bundle" downloads the same zip twice."""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Download, Locator, Page, expect

from conftest import q
from e2e.conftest import DESKTOP, Served, expect_full_page
from jejakekal.storage.console import run_readonly

RUN_TIMEOUT = 30_000
SOURCE = "alpha beta gamma"
# The steps a document run may be forked from; finalize and DBOS.sleep never offer it.
DOC_FORK_POINTS = ("prepare", "survey", "side-effect")
NEVER_FORKED = ("finalize", "DBOS.sleep")
LONG_SLEEP_MS = 120_000


def _done_doc(served: Served) -> str:
    run_id = served.start_doc(SOURCE)
    served.wait_run(run_id, "done")
    return run_id


def _done_intent(served: Served, goal: str) -> str:
    created = served.http.post("/intents", json={"goal": goal, "inputs": {}, "constraints": {}})
    assert created.status_code == 201, created.text
    started = served.http.post(f"/intents/{created.json()['intentId']}/run", json={})
    assert started.status_code == 202, started.text
    run_id = str(started.json()["runId"])
    served.wait_run(run_id, "succeeded")
    return run_id


def _wait_op(served: Served, run_id: str, name: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(op["function_name"] == name for op in served.run(run_id)["timeline"]):
            return
        time.sleep(0.05)
    raise AssertionError(f"{run_id} never recorded {name}")


def _fork_button(page: Page, step: str) -> Locator:
    """The first "Fork from here" of the timeline's operation named `step`."""
    return page.locator(f"#timeline li[data-name='{step}'] button.action-fork").first


def _doc_forkable(name: str) -> bool:
    return name in DOC_FORK_POINTS or name.startswith("ocr:")


def _expect_fork_page(
    page: Page, served: Served, parent: str, step: str, finished: str
) -> dict[str, Any]:
    """The browser is on the new run's page: its parent and step named, and it finishes.
    The new run's view is returned."""
    expect(page).to_have_url(re.compile(re.escape(served.url) + r"/runs/(?!" + parent + ")"))
    child = page.url.rsplit("/runs/", 1)[1]
    expect_full_page(page)
    expect(page.locator("#exec")).to_have_attribute("data-run-id", child)
    expect(page.locator("#run-parent")).to_have_text(f"{parent} at {step}")
    expect(page.locator("#run-parent a")).to_have_attribute("href", f"/runs/{parent}")
    # The page's polls back off to 10 s apart: the run finishes first, then the page follows.
    view = served.wait_run(child, finished, timeout=RUN_TIMEOUT / 1000)
    expect(page.locator("#run-status")).to_have_attribute("data-state", "done", timeout=RUN_TIMEOUT)
    return view


def test_fork_from_here_on_a_document_step_opens_the_new_run_listed_under_its_parent(
    page: Page, served_any: Served
) -> None:
    served = served_any
    parent = _done_doc(served)
    page.goto(f"{served.url}/runs/{parent}")

    steps = page.locator("#timeline li.step")
    names = [str(n) for n in steps.evaluate_all("els => els.map(e => e.dataset.name)")]
    for index, name in enumerate(names):
        fid = steps.nth(index).get_attribute("data-function-id")
        expected = 1 if _doc_forkable(name) else 0
        expect(page.locator(f"#fork-{fid}"), f"{name} fork offer").to_have_count(expected)
    assert {"prepare", "side-effect", "finalize"} <= set(names), names
    assert not any(_doc_forkable(n) for n in NEVER_FORKED)
    served.shot(page, "fork-offers")

    with page.expect_response(re.compile(r"/fork$")) as answer:
        _fork_button(page, "side-effect").click()

    # htmx posted the form and followed the answer's HX-Redirect (no 303 with JS on).
    assert answer.value.status == 200, answer.value.status
    view = _expect_fork_page(page, served, parent, "side-effect", "done")
    child = view["run_id"]
    assert answer.value.headers["hx-redirect"] == f"/runs/{child}"
    assert (view["parentRunId"], view["forkStep"]) == (parent, "side-effect")
    page.goto(f"{served.url}/runs/{parent}")
    expect(page.locator("#run-forks li a")).to_have_text([child])
    expect(page.locator("#run-forks li a")).to_have_attribute("href", f"/runs/{child}")
    audit = page.locator("#audit li.audit-fork")
    expect(audit).to_contain_text("fork by ui-user")
    expect(audit.locator("a")).to_have_text(child)


def test_fork_from_here_works_without_javascript_through_the_303(
    browser: Browser, served: Served
) -> None:
    parent = _done_doc(served)
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{served.url}/runs/{parent}")

        with page.expect_response(re.compile(r"/fork$")) as answer:
            _fork_button(page, "side-effect").click()

        assert answer.value.status == 303, answer.value.status
        expect(page).to_have_url(re.compile(r"/runs/doc-fork-"))
        child = page.url.rsplit("/runs/", 1)[1]
        expect(page.locator("#run-parent")).to_have_text(f"{parent} at side-effect")
        assert served.wait_run(child, "done")["parentRunId"] == parent
    finally:
        context.close()


def test_an_intent_run_forks_from_decide_in_the_page(page: Page, served: Served) -> None:
    parent = _done_intent(served, "demo chain")
    page.goto(f"{served.url}/runs/{parent}")
    expect(page.locator("#timeline li[data-name='ExecuteST'] button.action-fork")).to_have_count(0)

    _fork_button(page, "DecideST").click()

    view = _expect_fork_page(page, served, parent, "DecideST", "succeeded")
    child = view["run_id"]
    assert view["parentRunId"] == parent
    expect(page.locator("#run-goal")).to_have_text("demo chain")
    page.goto(f"{served.url}/runs/{parent}")
    expect(page.locator("#run-forks li a")).to_have_text([child])


def test_a_cancel_keeps_the_typed_reason_in_the_audit_list_and_in_sql(
    page: Page, served: Served, database_url: str
) -> None:
    run_id = served.start_doc(SOURCE, sleep_ms=LONG_SLEEP_MS)
    # Live for minutes: the run sleeps between prepare and side-effect. Waiting here, not
    # in the page, keeps the test off the page's polls, which back off to 10 s apart.
    _wait_op(served, run_id, "DBOS.sleep")
    page.goto(f"{served.url}/runs/{run_id}")
    expect(page.locator("#timeline li[data-name='DBOS.sleep']")).to_have_count(1)
    reason = "operator test: stale source"
    expect(page.locator("#action-cancel")).to_be_visible()

    page.locator("#action-reason").fill(reason)
    page.locator("#action-cancel").click()

    entry = page.locator("#audit li.audit-cancel")
    expect(entry).to_have_count(1, timeout=RUN_TIMEOUT)
    expect(entry).to_contain_text("cancel by ui-user (ui)")
    expect(entry).to_contain_text(f"“{reason}”")
    expect(page.locator("#action-cancel")).to_have_count(0, timeout=RUN_TIMEOUT)
    served.wait_run(run_id, "unknown")
    columns, rows = run_readonly(
        database_url,
        q(
            "SELECT action, actor, origin, reason, status_before, status_after"
            " FROM app.operator_actions WHERE run_id = '{run}'",
            run=run_id,
        ),
    )
    assert [dict(zip(columns, row, strict=True)) for row in rows] == [
        {
            "action": "cancel",
            "actor": "ui-user",
            "origin": "ui",
            "reason": reason,
            "status_before": "running",
            "status_after": "unknown",
        }
    ]


def _download(page: Page, folder: Path, name: str) -> bytes:
    with page.expect_download() as event:
        page.locator("#export-bundle").click()
    download: Download = event.value
    assert download.failure() is None, download.failure()
    target = folder / name
    download.save_as(target)
    assert download.suggested_filename.endswith("-bundle.zip"), download.suggested_filename
    return target.read_bytes()


def test_export_bundle_downloads_the_same_zip_twice(
    page: Page, served_any: Served, tmp_path: Path
) -> None:
    run_id = _done_doc(served_any)
    page.goto(f"{served_any.url}/runs/{run_id}")
    expect(page.locator("#export-bundle")).to_have_attribute("href", f"/runs/{run_id}/bundle.zip")

    first = _download(page, tmp_path, "first.zip")
    second = _download(page, tmp_path, "second.zip")

    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.testzip() is None
        assert "manifest.json" in archive.namelist(), archive.namelist()
