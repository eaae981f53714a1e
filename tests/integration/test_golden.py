"""The golden corpus renders, on each backend, exactly what is recorded in tests/golden."""

from __future__ import annotations

from pathlib import Path

from conftest import make_settings
from jejakekal.golden.compare import diff
from jejakekal.golden.snapshots import render

GOLDEN = Path(__file__).parent.parent / "golden"


def test_golden_corpus_matches_the_recorded_snapshots(database_url: str, tmp_path: Path) -> None:
    files = render(make_settings(database_url, tmp_path / "home"))

    lines = diff(GOLDEN, files)

    assert files, "the corpus rendered nothing"
    assert lines == [], "".join(lines[:80])


def test_golden_diff_reports_a_changed_snapshot(tmp_path: Path) -> None:
    recorded = tmp_path / "golden"
    (recorded / "case").mkdir(parents=True)
    (recorded / "case" / "run_view.json").write_bytes(b'{\n  "status": "done"\n}\n')

    lines = diff(recorded, {"case/run_view.json": b'{\n  "status": "error"\n}\n'})

    assert '-  "status": "done"\n' in lines
    assert '+  "status": "error"\n' in lines
