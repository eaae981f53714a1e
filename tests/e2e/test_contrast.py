"""Readable contrast: every visible text in every page state meets WCAG 2.x AA.

The browser computes each ratio from the colours it actually renders: the text's colour
against its effective background, the first opaque background found walking up the
ancestors, with any translucent ones between composited over it (the canvas is white).
Normal text needs 4.5:1, large text (24 px, or bold from 18.66 px) 3:1. A background
image or a translucent ancestor cannot be judged this way, so it fails the audit too.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from e2e.conftest import DESKTOP, PHONE, Served

RUN_TIMEOUT = 30_000
SOURCE = "alpha beta gamma"
# Long enough to stay `running` while the audit reads the page.
LIVE_SLEEP_MS = 120_000

AUDIT = """
() => {
  const rgba = (css) => {
    const m = css.match(/^rgba?\\(([^)]+)\\)$/);
    if (!m) return null;
    const v = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1];
  };
  const over = (top, below) =>
    [0, 1, 2].map(i => top[i] * top[3] + below[i] * (1 - top[3])).concat(1);
  const luminance = (c) => {
    const [r, g, b] = c.slice(0, 3).map(v => {
      v /= 255;
      return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const hex = (c) =>
    '#' + c.slice(0, 3).map(v => Math.round(v).toString(16).padStart(2, '0')).join('');
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    [...el.classList].map(c => '.' + c).join('');

  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const opacity = getComputedStyle(node).opacity;
      if (parseFloat(opacity) < 1) return { problem: `opacity ${opacity} on ${name(node)}` };
    }
    const layers = [];
    for (let node = el; node; node = node.parentElement) {
      const style = getComputedStyle(node);
      if (style.backgroundImage !== 'none') return { problem: `background image on ${name(node)}` };
      const color = rgba(style.backgroundColor);
      if (color === null) return { problem: `unparsed background ${style.backgroundColor}` };
      if (color[3] > 0) layers.push(color);
      if (color[3] >= 1) break;
    }
    const canvas = [255, 255, 255, 1];
    return { color: layers.reverse().reduce((below, layer) => over(layer, below), canvas) };
  };

  const failures = [];
  let checked = 0;
  const check = (el, label, css, text) => {
    const style = getComputedStyle(el);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (parseInt(style.fontWeight, 10) >= 700 && size >= 18.66);
    const need = large ? 3 : 4.5;
    const behind = background(el);
    const fg = rgba(css);
    checked += 1;
    if (behind.problem || fg === null) {
      failures.push(`${name(el)}${label} "${text}": cannot judge (${behind.problem || css})`);
      return;
    }
    const shown = fg[3] < 1 ? over(fg, behind.color) : fg;
    const got = ratio(shown, behind.color);
    if (got < need) {
      failures.push(`${name(el)}${label} "${text}": ${hex(shown)} on ${hex(behind.color)} ` +
        `is ${got.toFixed(2)}:1, needs ${need}:1`);
    }
  };

  for (const el of document.body.querySelectorAll('*')) {
    const field = el.matches('textarea, input:not([type=hidden])');
    const own = [...el.childNodes]
      .filter(n => n.nodeType === Node.TEXT_NODE)
      .map(n => n.textContent).join('').trim();
    if (!own && !field) continue;
    if (!el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) continue;
    // Off screen or clipped to a pixel: text kept for screen readers only.
    const box = el.getBoundingClientRect();
    const offScreen = box.right + scrollX <= 0 || box.bottom + scrollY <= 0;
    if (box.width <= 1 || box.height <= 1 || offScreen) continue;
    if (own) check(el, '', getComputedStyle(el).color, own.slice(0, 40));
    if (field) {
      check(el, ' (typed text)', getComputedStyle(el).color, el.value.slice(0, 40));
      if (el.placeholder && !el.value) {
        check(el, '::placeholder', getComputedStyle(el, '::placeholder').color, el.placeholder);
      }
    }
  }
  return { checked, failures };
}
"""


def audit(page: Page) -> dict[str, Any]:
    """Every visible text of the page as it is now, with the closed <details> opened."""
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    result: dict[str, Any] = page.evaluate(AUDIT)
    return result


def audit_while_polling(page: Page) -> dict[str, Any]:
    """The audit at the moment a live run's poll is sent: htmx marks the requesting
    element `.htmx-request` until the answer lands."""
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    result: dict[str, Any] = page.evaluate(
        "() => new Promise(resolve => document.body.addEventListener("
        f"'htmx:beforeSend', () => resolve(({AUDIT})()), {{ once: true }}))"
    )
    return result


def _intent_run(served: Served, goal: str) -> str:
    created = served.http.post("/intents", json={"goal": goal, "inputs": {}, "constraints": {}})
    assert created.status_code == 201, created.text
    started = served.http.post(f"/intents/{created.json()['intentId']}/run", json={})
    assert started.status_code == 202, started.text
    return str(started.json()["runId"])


def _runs_in_every_state(served: Served) -> dict[str, str]:
    runs = {
        "done": served.start_doc(SOURCE),
        "retried": _intent_run(served, "a flaky step"),
        "failed": _intent_run(served, "please fail this one"),
        "waiting": _intent_run(served, "please ask me"),
        "live": served.start_doc("a slow one", sleep_ms=LIVE_SLEEP_MS),
    }
    served.wait_run(runs["done"], "done")
    served.wait_run(runs["retried"], "succeeded")
    served.wait_run(runs["failed"], "retries_exceeded", "failed")
    served.wait_run(runs["waiting"], "waiting_input")
    served.wait_run(runs["live"], "running")
    return runs


def _visit_every_state(page: Page, served: Served, runs: dict[str, str]) -> dict[str, Any]:
    """Each page in each state it can show, audited: state name to audit result."""
    results: dict[str, Any] = {}
    status = page.locator("#run-status")

    page.goto(served.url + "/")
    expect(page.locator("#run-list a.run-link")).to_have_count(len(runs))
    results["home with runs"] = audit(page)
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    results["home, skip link focused"] = audit(page)

    for name, state in [
        ("done", "done"),
        ("retried", "done"),
        ("failed", "error"),
        ("waiting", "running"),
        ("live", "running"),
    ]:
        page.goto(f"{served.url}/runs/{runs[name]}")
        expect(status).to_have_attribute("data-state", state)
        results[f"run view, {name}"] = audit(page)
        if state == "running":
            results[f"run view, {name}, while it polls"] = audit_while_polling(page)
    page.goto(f"{served.url}/runs/{runs['done']}?step=1")
    expect(page.locator("#timeline .step.selected")).to_have_count(1)
    results["run view, step selected"] = audit(page)

    done = runs["done"]
    for kind in ("raw", "docir", "chunk-index"):
        page.goto(f"{served.url}/artifacts/{done}:{kind}")
        expect(page.locator("#viewer-title")).to_contain_text(kind)
        results[f"artifact viewer, {kind}"] = audit(page)
    page.goto(f"{served.url}/artifacts/{done}:memo")
    citation = page.locator("a.citation").first
    expect(citation).to_be_visible()
    results["artifact viewer, memo"] = audit(page)
    citation.click()
    expect(page.locator("#artifact-viewer mark.cited")).to_be_visible()
    results["artifact viewer, memo with a citation marked"] = audit(page)

    page.goto(served.url + "/no-such-page")
    expect(page.locator("#notice .notice-error")).to_be_visible()
    results["error notice"] = audit(page)
    return results


# Colours do not depend on the database: one backend is enough.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
def test_every_visible_text_meets_wcag_aa_contrast_in_every_page_state(
    page: Page, served: Served, viewport: ViewportSize
) -> None:
    runs = _runs_in_every_state(served)
    page.set_viewport_size(viewport)

    results = _visit_every_state(page, served, runs)

    failures = [f"{state}: {f}" for state, r in results.items() for f in r["failures"]]
    assert not failures, "text below WCAG AA contrast:\n" + "\n".join(failures)
    # Every state was really read: a page that rendered no text would pass vacuously.
    too_few = {state: r["checked"] for state, r in results.items() if r["checked"] < 20}
    assert not too_few, f"states with almost no text audited: {too_few}"
