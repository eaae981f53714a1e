"""The golden corpus renders, on each backend, exactly what is recorded in tests/golden:
document runs and intent runs alike, and `golden diff` names whatever differs."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import make_settings, run_cli
from jejakekal.golden.compare import changed, diff
from jejakekal.golden.corpus import CASES, FILE_CASES, INTENT_CASES
from jejakekal.golden.snapshots import render

GOLDEN = Path(__file__).parent.parent / "golden"


def test_golden_corpus_matches_the_recorded_snapshots(database_url: str, tmp_path: Path) -> None:
    files = render(make_settings(database_url, tmp_path / "home"))

    lines = diff(GOLDEN, files)

    cases = {name.split("/")[0] for name in files}
    assert cases == {*CASES, *FILE_CASES, *INTENT_CASES}
    assert lines == [], "".join(lines[:80])


def test_recorded_intent_cases_end_as_the_walkthroughs_say() -> None:
    views = {
        case: json.loads((GOLDEN / case / "run_view.json").read_text()) for case in INTENT_CASES
    }

    ended = {case: (v["kind"], v["status"], v["lastStep"]) for case, v in views.items()}
    assert ended == {
        "intent-demo-chain": ("intent", "succeeded", "ExecuteST"),
        "intent-ask-user": ("intent", "succeeded", "ExecuteST"),
        "intent-fail-me": ("intent", "retries_exceeded", "ExecuteST"),
        "intent-flaky": ("intent", "succeeded", "ExecuteST"),
        "intent-reject": ("intent", "failed", "DecideST"),
    }
    gate = views["intent-ask-user"]["gates"][0]
    assert (gate["key"], gate["status"], gate["answer"]) == ("input", "answered", {"answer": "42"})
    assert views["intent-fail-me"]["nextAction"] == "POST /runs/<run-id>/retry"
    for case in INTENT_CASES:
        assert (GOLDEN / case / "bundle" / "manifest.json").is_file(), case


def test_golden_diff_reports_a_changed_snapshot(tmp_path: Path) -> None:
    recorded = tmp_path / "golden"
    (recorded / "case").mkdir(parents=True)
    (recorded / "case" / "run_view.json").write_bytes(b'{\n  "status": "done"\n}\n')
    now = {"case/run_view.json": b'{\n  "status": "error"\n}\n', "new/run_view.json": b"{}\n"}

    lines = diff(recorded, now)

    assert '-  "status": "done"\n' in lines
    assert '+  "status": "error"\n' in lines
    assert changed(recorded, now) == ["case/run_view.json", "new/run_view.json"]


def test_golden_diff_fails_naming_each_broken_case_and_file(tmp_path: Path) -> None:
    recorded = tmp_path / "golden"
    cwd = tmp_path / "cwd"
    # A fresh recording, so that only the files broken below can differ.
    assert run_cli(cwd, "golden", "record", "--dir", str(recorded), timeout=240).returncode == 0
    intent_view = recorded / "intent-fail-me" / "run_view.json"
    intent_view.write_text(intent_view.read_text().replace('"retries_exceeded"', '"succeeded"'))
    (recorded / "markdown" / "bundle" / "citations.json").write_text("[]\n")

    result = run_cli(cwd, "golden", "diff", "--dir", str(recorded), timeout=240)

    assert result.returncode == 1, (result.stdout[-2000:], result.stderr[-2000:])
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("error: golden snapshots differ"), result.stderr
    assert error.endswith(" in intent-fail-me/run_view.json, markdown/bundle/citations.json")
    assert '-  "status": "succeeded",\n' in result.stdout
    assert '+  "status": "retries_exceeded",\n' in result.stdout
