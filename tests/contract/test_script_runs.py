"""The `script` recipe end to end [ADP-PLAN]: real commands in the real sandbox, their
outputs as artifacts, failures a human can read, bad inputs refused before anything is
written. On SQLite and PostgreSQL, SQL the oracle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import Api
from jejakekal.bootstrap import Kernel
from jejakekal.domain.contracts import IntentCreate, RunRequest
from jejakekal.domain.errors import SandboxNotIsolated

COUNTS = (
    "SELECT (SELECT COUNT(*) FROM app.intents) AS intents,"
    " (SELECT COUNT(*) FROM app.runs) AS runs,"
    " (SELECT COUNT(*) FROM app.artifacts) AS artifacts"
)


def _intent(api: Api, inputs: dict[str, Any], goal: str = "count lines") -> str:
    reply = api.client.post("/intents", json={"goal": goal, "inputs": inputs, "constraints": {}})
    assert reply.status_code == 201, reply.text
    return str(reply.json()["intentId"])


def _run(api: Api, inputs: dict[str, Any], goal: str = "count lines") -> str:
    started = api.start(_intent(api, inputs, goal), {"recipeName": "script"})
    return str(started["runId"])


def _artifacts(api: Api, run_id: str) -> list[dict[str, Any]]:
    reply = api.client.get("/artifacts", params={"run_id": run_id})
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()
    return items


def test_the_acceptance_command_succeeds_and_keeps_its_stdout(api: Api) -> None:
    run_id = _run(api, {"commands": ["wc -l /etc/hostname"]})
    view = api.wait_status(run_id, "succeeded", timeout=60)
    assert view["goal"] == "count lines"
    assert view["recipe"] == "script"
    assert [n["argv"] for n in view["plan"]] == [["/bin/sh", "-c", "wc -l /etc/hostname"]]
    kinds = sorted(a["type"] for a in _artifacts(api, run_id))
    assert kinds == ["node-result", "stderr", "stdout"]
    stdout = api.client.get(f"/artifacts/{run_id}:exec-1:a1:stdout").json()
    assert stdout["content"].strip().endswith("/etc/hostname")
    assert stdout["prov"]["node_id"] == "exec-1" and stdout["prov"]["attempt"] == 1
    result = api.client.get(f"/artifacts/{run_id}:exec-1:a1:result").json()["content"]
    assert result["exit_code"] == 0 and result["isolation"] == "bwrap"
    rows = api.sql(f"SELECT COUNT(*) AS n FROM app.chunks WHERE run_id = '{run_id}'")
    assert rows[0]["n"] == 1  # stdout is searchable; the empty stderr is not indexed


def test_files_go_in_and_out_files_come_back(api: Api) -> None:
    inputs = {
        "commands": ["mkdir -p out && tr a-z A-Z < data.txt > out/upper.txt && cat out/upper.txt"],
        "files": {"data.txt": "hello\n"},
    }
    run_id = _run(api, inputs, "shout the data")
    api.wait_status(run_id, "succeeded", timeout=60)
    out = [a for a in _artifacts(api, run_id) if a["type"] == "out-file"]
    assert len(out) == 1
    body = api.client.get(f"/artifacts/{out[0]['id']}")
    assert body.json()["content"] == "HELLO\n"
    assert body.json()["prov"]["path"] == "out/upper.txt"
    hits = api.client.get("/search", params={"q": "HELLO", "run_id": run_id}).json()
    assert hits, hits
    # The export bundle lists every node artifact with its hash and provenance.
    exported = api.client.get(f"/runs/{run_id}/export")
    assert exported.status_code == 200, exported.text
    bundle = Path(exported.json()["run_bundle_path"])
    listed = json.loads((bundle / "artifacts.json").read_text())
    assert {a["type"] for a in listed} == {"node-result", "stdout", "stderr", "out-file"}
    assert all(a["bytes_match"] and a["prov"]["node_id"] == "exec-1" for a in listed)


def test_a_failing_command_says_which_node_how_and_its_stderr(api: Api) -> None:
    run_id = _run(api, {"commands": ["true", "echo boom >&2; exit 3"]}, "fail on purpose")
    view = api.wait_status(run_id, "retries_exceeded", "failed", timeout=60)
    assert view["error"].startswith("ExecuteST: node exec-2 exited 3 after 1 attempt: boom"), view
    assert "DBOS" not in view["error"]
    # Not retried: a command's own non-zero exit is not a fault of the sandbox.
    assert (
        api.count(
            f"SELECT COUNT(*) FROM app.artifacts WHERE run_id = '{run_id}'"
            " AND id LIKE '%exec-2:a%:result'"
        )
        == 1
    )


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({}, "inputs.commands"),
        ({"commands": []}, "inputs.commands"),
        ({"commands": ["   "]}, "inputs.commands.0"),
        ({"commands": [[]]}, "inputs.commands.0"),
        ({"commands": [7]}, "inputs.commands.0"),
        ({"commands": ["x"] * 17}, "inputs.commands"),
        ({"commands": ["x"], "files": {"../up": "x"}}, "inputs.files.../up"),
        ({"commands": ["x"], "files": {"/abs": "x"}}, "inputs.files./abs"),
        ({"commands": ["x"], "files": {"a": 3}}, "inputs.files.a"),
        ({"commands": ["x"], "files": {"a": "", "a/b": ""}}, "inputs.files.a"),
    ],
)
def test_bad_script_inputs_are_a_400_naming_the_field_and_write_no_run(
    api: Api, inputs: dict[str, Any], field: str
) -> None:
    intent_id = _intent(api, inputs)
    before = api.sql(COUNTS)
    reply = api.client.post(f"/intents/{intent_id}/run", json={"recipeName": "script"})
    assert reply.status_code == 400, reply.text
    assert reply.json()["field"] == field, reply.json()
    assert api.sql(COUNTS) == before


def test_unisolated_hosts_refuse_foreign_commands_unless_opted_in(kernel: Kernel) -> None:
    """Where bubblewrap is not usable, a recipe running a user's commands is refused
    with a typed 409 that writes nothing; the stub recipe still starts, and the
    operator's opt-in lets the script recipe start too."""
    control = kernel.control
    control.ctx.isolation = lambda: "subprocess"
    intent_id = control.create_intent(
        IntentCreate(goal="count", inputs={"commands": ["true"]}, constraints={})
    )

    def runs() -> int:
        return len(control.list_runs(limit=100, offset=0, status=None, kind=None))

    with pytest.raises(SandboxNotIsolated) as refused:
        control.start_intent_run(intent_id, RunRequest(recipeName="script"))
    assert refused.value.status == 409 and refused.value.code == "sandbox_not_isolated"
    assert runs() == 0
    control.start_intent_run(intent_id, RunRequest(recipeName="compile-default"))
    assert runs() == 1
    control.ctx.settings = control.ctx.settings.with_overrides(allow_unisolated=True)
    other = control.create_intent(
        IntentCreate(goal="c", inputs={"commands": ["true"]}, constraints={})
    )
    control.start_intent_run(other, RunRequest(recipeName="script"))
    assert runs() == 2
