"""A bench command as an operator runs it: results written, nothing left behind
(README, "Current figures").

Benches build a scratch SQLite file and a home per server; all of it lives under one
temporary folder that the command removes, whether it ends well or not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "jejakekal.cli.main"]


def test_bench_ingest_writes_its_result_and_leaves_no_scratch(tmp_path: Path) -> None:
    scratch_root = tmp_path / "tmp"
    scratch_root.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch_root), "JEJAKEKAL_HOME": str(tmp_path / "home")}
    env.pop("JEJAKEKAL_DATABASE_URL", None)  # the default: a scratch SQLite file

    done = subprocess.run(
        [*CLI, "bench", "ingest", "--runs", "2"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((tmp_path / ".cache/bench/ingest.json").read_text())["results"][0]
    assert result["db"] == "sqlite" and result["runs"] == 2
    assert result["floor"]["in_process"]["p50_ms"] > 0
    assert result["pdf"]["pages"] == 30 and result["pdf"]["pages_per_sec"] > 0
    assert result["ocr"]["pages"] == 6 and result["ocr"]["pages_per_sec"] > 0
    assert "scanned, OCR" in done.stdout
    assert sorted(p.name for p in scratch_root.iterdir() if p.name.startswith("jejakekal-")) == []
    # The operator's home was never touched.
    assert not (tmp_path / "home").exists()


def test_bench_longpoll_writes_healthz_and_cpu_figures_with_and_without_waiters(
    tmp_path: Path,
) -> None:
    scratch_root = tmp_path / "tmp"
    scratch_root.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch_root), "JEJAKEKAL_HOME": str(tmp_path / "home")}
    env.pop("JEJAKEKAL_DATABASE_URL", None)

    done = subprocess.run(
        [*CLI, "bench", "longpoll", "--waiters", "5", "--seconds", "0.5"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((tmp_path / ".cache/bench/longpoll.json").read_text())["results"][0]
    assert (result["db"], result["api"], result["waiters"]) == ("sqlite", "full", 5)
    for phase in ("idle", "waiting"):
        assert result[phase]["healthz_samples"] > 0
        assert result[phase]["healthz_p50_ms"] <= result[phase]["healthz_p99_ms"]
        assert result[phase]["cpu_cores"] >= 0
    assert result["healthz_p99_ms"] == result["waiting"]["healthz_p99_ms"]
    extra = result["waiting"]["cpu_cores"] - result["idle"]["cpu_cores"]
    assert result["extra_cpu_cores"] == round(extra, 4)
    assert sorted(p.name for p in scratch_root.iterdir() if p.name.startswith("jejakekal-")) == []
