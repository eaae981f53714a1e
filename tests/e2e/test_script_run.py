"""An intent run that does real work (the `script` recipe), as a new user sees it in Chromium:
its goal, its plan's command, and the command's stdout as an artifact to open."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from e2e.conftest import Served, expect_full_page

RUN_TIMEOUT = 60_000


def start_script_run(served: Served, goal: str, command: str) -> str:
    body = {"goal": goal, "inputs": {"commands": [command]}, "constraints": {}}
    created = served.http.post("/intents", json=body)
    assert created.status_code == 201, created.text
    intent_id = created.json()["intentId"]
    started = served.http.post(f"/intents/{intent_id}/run", json={"recipeName": "script"})
    assert started.status_code == 202, started.text
    return str(started.json()["runId"])


def test_a_script_run_shows_its_goal_command_and_stdout_artifact(
    page: Page, served_any: Served
) -> None:
    run_id = start_script_run(served_any, "say hello to the UI", "echo hello-ui")

    page.goto(f"{served_any.url}/runs/{run_id}")
    expect_full_page(page)
    expect(page.locator("#run-status")).to_have_attribute("data-state", "done", timeout=RUN_TIMEOUT)

    expect(page.locator("#run-goal")).to_have_text("say hello to the UI")
    expect(page.locator("#run-recipe")).to_have_text("script")
    expect(page.locator("#plan .node-command")).to_have_text("echo hello-ui")
    expect(page.locator(f"#run-item-{run_id} .run-goal")).to_have_text("say hello to the UI")
    stdout = page.locator(f"#artifacts .artifact-link[href='/artifacts/{run_id}:exec-1:a1:stdout']")
    expect(stdout).to_be_visible()
    stdout.click()
    expect(page.locator("#viewer-title")).to_contain_text("stdout")
    expect(page.locator("#artifact-viewer pre")).to_have_text("hello-ui\n")
    served_any.shot(page, "script-run-1280")
