"""`jejakekal smoke oc|sbx` as an operator runs them: a real process, one JSON line, exit 0/1.

`smoke oc` talks to a scripted OpenAI-compatible server on loopback; nothing leaves the host.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from jejakekal.cli.smoke import SMOKE_GOAL, sandbox_verdict
from jejakekal.domain.ports import ExecNode, ExecResult
from openai_loopback import ScriptedModel, answer, content, scripted_model

CLI = [sys.executable, "-m", "jejakekal.cli.main"]
PLAN = {
    "done": False,
    "answer": None,
    "nodes": [{"purpose": "date", "command": "date", "argv": None, "expected_outputs": []}],
}


def _cli(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(folder, *args, timeout=60, **env)


def _verdict(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.stdout.count("\n") == 1, result.stdout
    verdict: dict[str, Any] = json.loads(result.stdout)
    return verdict


def _assert_failed(result: subprocess.CompletedProcess[str], *named: str) -> dict[str, Any]:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    verdict = _verdict(result)
    assert verdict["ok"] is False
    for text in named:
        assert text in verdict["error"]
        assert text in result.stderr
    return verdict


@pytest.fixture
def model() -> Iterator[ScriptedModel]:
    with scripted_model() as served:
        yield served


def _oc(folder: Path, model: ScriptedModel) -> subprocess.CompletedProcess[str]:
    return _cli(
        folder,
        "smoke",
        "oc",
        "--timeout",
        "10",
        JEJAKEKAL_OPENAI_BASE_URL=model.url,
        JEJAKEKAL_OPENAI_MODEL="smoke-model",
        JEJAKEKAL_OPENAI_API_KEY="sk-smoke-secret",
    )


def test_smoke_oc_asks_for_a_plan_and_a_decision_and_says_ok(
    tmp_path: Path, model: ScriptedModel
) -> None:
    model.script(answer(PLAN), answer({"action": "execute", "reason": "fine"}))

    result = _oc(tmp_path, model)

    assert result.returncode == 0, result.stderr
    verdict = _verdict(result)
    assert verdict["ok"] is True
    assert (verdict["endpoint"], verdict["model"]) == (model.url, "smoke-model")
    assert verdict["plan"] == {"nodes": 1, "done": False}
    assert verdict["decision"] == "execute"
    assert set(verdict["ms"]) == {"plan", "decision"}
    plan_body, decision_body = model.requests
    assert json.loads(plan_body["messages"][1]["content"])["goal"] == SMOKE_GOAL
    assert decision_body["response_format"] == {"type": "json_object"}
    assert model.authorizations == ["Bearer sk-smoke-secret"] * 2
    assert "sk-smoke-secret" not in result.stdout + result.stderr


def test_smoke_oc_exits_1_naming_the_status_when_the_endpoint_fails(
    tmp_path: Path, model: ScriptedModel
) -> None:
    # Nothing scripted: the server answers HTTP 500 to every call.
    verdict = _assert_failed(_oc(tmp_path, model), "HTTP 500")

    assert verdict["failed"] == "plan"
    assert "decision" not in verdict
    assert model.calls == 1


def test_smoke_oc_exits_1_when_the_decision_is_invalid(
    tmp_path: Path, model: ScriptedModel
) -> None:
    model.script(answer(PLAN), content("I think it is fine"))

    verdict = _assert_failed(_oc(tmp_path, model), "not JSON")

    assert (verdict["failed"], verdict["plan"]) == ("decision", {"nodes": 1, "done": False})


def test_smoke_sbx_reports_the_isolation_the_node_had(tmp_path: Path) -> None:
    result = _cli(tmp_path, "smoke", "sbx")

    assert result.returncode == 0, result.stderr
    verdict = _verdict(result)
    assert verdict["ok"] is True and verdict["exit_code"] == 0
    assert verdict["isolation"] in {"bwrap", "subprocess"}
    # Only bubblewrap's network namespace keeps the node off this host's loopback.
    assert verdict["network_reachable"] is (verdict["isolation"] != "bwrap")
    if verdict["isolation"] == "bwrap":
        assert (verdict["process_bound"], verdict["uid"]) == ("bwrap", "65534")


def test_smoke_sbx_require_isolated_exits_1_without_bubblewrap(tmp_path: Path) -> None:
    # An empty PATH hides bwrap from the sandbox's probe; the node itself still runs.
    result = _cli(tmp_path, "smoke", "sbx", "--require-isolated", PATH=str(tmp_path))

    verdict = _assert_failed(result, "not bubblewrap")
    assert (verdict["isolation"], verdict["network_reachable"]) == ("subprocess", True)


class FailingSandbox:
    name = "failing"
    isolation = "subprocess"

    def execute(self, node: ExecNode) -> ExecResult:
        return ExecResult(
            exit_code=2,
            stdout="",
            stderr="sh: 1: cannot create /work/x: Read-only file system\n",
            files={},
            duration_ms=1.0,
            isolation="subprocess",
        )


def test_a_failed_smoke_node_is_a_failed_verdict_naming_its_exit_and_stderr() -> None:
    verdict = sandbox_verdict(FailingSandbox())

    assert verdict["ok"] is False
    assert verdict["exit_code"] == 2
    assert verdict["error"] == (
        "the node ended with exit 2: sh: 1: cannot create /work/x: Read-only file system"
    )
