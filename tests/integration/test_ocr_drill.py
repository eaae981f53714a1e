"""OCR of a scanned PDF survives a SIGKILL mid-document (issue 24).

A six-page image-only PDF is uploaded to a real `jejakekal api` process; its pages are
recognised two at a time, each batch a durable step whose result is recorded in the
effect ledger. Right after the first batch is recorded the process is SIGKILLed and
started again. SQL is the oracle: every batch has exactly one effect row and one DBOS
step output, a batch recorded before the kill keeps its rows untouched (it was not
recognised again), and the finished docir reads every page from OCR.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from corpus_scans import multi_page
from jejakekal.drills.oracles import Oracles
from jejakekal.drills.processes import ApiProcess, DrillEnv, wait_for

BATCHES = ["ocr:1-2", "ocr:3-4", "ocr:5-6"]


def _ocr_effects(oracles: Oracles, run_id: str) -> list[dict[str, Any]]:
    return oracles.rows(
        "SELECT effect_key, created_at FROM app.effects WHERE run_id = :id"
        " AND effect_key LIKE :pattern ORDER BY effect_key",
        id=run_id,
        pattern=f"{run_id}:ocr:%",
    )


def _ocr_steps(oracles: Oracles, run_id: str) -> list[dict[str, Any]]:
    return oracles.rows(
        "SELECT step_id, started_at, finished_at FROM app.run_steps WHERE run_id = :id"
        " AND step_id LIKE 'ocr:%' ORDER BY step_id",
        id=run_id,
    )


@pytest.mark.timeout(240)
def test_ocr_resumes_after_a_sigkill_and_never_recognises_a_batch_twice(
    database_url: str, tmp_path: Path
) -> None:
    scan = tmp_path / "scan.pdf"
    expected = multi_page(scan)
    env = DrillEnv(database_url, tmp_path, f"ocr-drill-{uuid.uuid4().hex[:8]}", "drill", False)
    oracles = Oracles(database_url)
    with ApiProcess(env) as api:
        api.start()
        reply = api.client.post(
            "/runs",
            content=scan.read_bytes(),
            params={"filename": "scan.pdf"},
            headers={"Content-Type": "application/pdf"},
        )
        assert reply.status_code == 202, reply.text
        run_id = reply.json()["run_id"]
        seen = wait_for(
            lambda: _ocr_effects(oracles, run_id) or None, timeout=120, what="a recognised batch"
        )

        # Act: SIGKILL as soon as one batch is recorded, then start again.
        api.kill9()
        before_effects = _ocr_effects(oracles, run_id)
        before_steps = _ocr_steps(oracles, run_id)
        api.restart()
        view = wait_for(
            lambda: (v := api.get(f"/runs/{run_id}"))["status"] in ("done", "error") and v,
            timeout=180,
            what="the run to end",
        )
        docir = api.get(f"/artifacts/{run_id}:docir")["content"]

    effects = _ocr_effects(oracles, run_id)
    steps = _ocr_steps(oracles, run_id)
    outputs = oracles.rows(
        "SELECT function_name, COUNT(*) AS n FROM dbos.operation_outputs"
        " WHERE workflow_uuid = :wf AND function_name LIKE 'ocr:%' GROUP BY function_name",
        wf=oracles.run_workflow_id(run_id),
    )

    assert api.kills == 1 and api.starts == 2
    assert view["status"] == "done", view
    # The kill came after the first batch was recorded and before the last one.
    assert before_effects and len(before_effects) < len(BATCHES), (seen, before_effects)
    assert [e["effect_key"] for e in effects] == [f"{run_id}:{b}" for b in BATCHES]
    assert {r["function_name"]: int(r["n"]) for r in outputs} == dict.fromkeys(BATCHES, 1)
    # What was recorded before the kill is unchanged: those pages were not read again.
    recorded = {e["effect_key"]: e["created_at"] for e in effects}
    assert all(recorded[e["effect_key"]] == e["created_at"] for e in before_effects)
    after_steps = {s["step_id"]: s for s in steps}
    assert all(after_steps[s["step_id"]] == s for s in before_steps)
    assert [p["text_from"] for p in docir["pages"]] == ["ocr"] * len(expected)
    for page, lines in enumerate(expected, start=1):
        text = " ".join(
            docir["text"][b["start"] : b["end"]]
            for b in docir["blocks"]
            if b["locator"]["page"] == page
        )
        words = {w.strip(".,").casefold() for line in lines for w in line.split()}
        found = {w.strip(".,").casefold() for w in text.split()}
        assert len(words & found) / len(words) >= 0.9, (page, text)
