"""`jejakekal ingest` as a new user runs it: a real process uploads files and a folder to
a live API, follows the runs with `--wait`, and prints a table. SQL is the oracle, on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import Api, run_cli
from corpus_office import write_article_page, write_report_docx, write_text_as_docx
from corpus_pdf import one_column


def _ingest(api: Api, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        tmp_path / "shell",
        "ingest",
        *args,
        JEJAKEKAL_API_URL=api.base_url,
        timeout=180,
    )


def test_ingest_a_pdf_and_a_folder_with_wait_prints_each_run(api: Api, tmp_path: Path) -> None:
    files = tmp_path / "files"
    (files / "nested").mkdir(parents=True)
    pdf = one_column(files / "nested")
    write_article_page(files)
    write_report_docx(files)
    (files / "notes.md").write_text("# Notes\n\nA line of notes.\n")
    (files / "ignored.bin").write_bytes(b"\x00\x01")

    result = _ingest(api, tmp_path, str(files), "--wait", "--json")

    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert sorted(Path(r["file"]).suffix for r in rows) == [".docx", ".html", ".md", ".pdf"]
    assert {r["status"] for r in rows} == {"done"}, rows
    by_suffix = {Path(r["file"]).suffix: r for r in rows}
    assert by_suffix[".pdf"]["pages"] == str(pdf.pages)
    ids = ", ".join(f"'{r['runId']}'" for r in rows)
    assert api.count(f"SELECT COUNT(*) FROM app.runs WHERE id IN ({ids})") == 4
    assert api.count(f"SELECT COUNT(*) FROM app.artifacts WHERE run_id IN ({ids})") == 16


def test_ingest_prints_a_table_and_fails_on_a_refused_file(api: Api, tmp_path: Path) -> None:
    bad = write_text_as_docx(tmp_path)
    pdf = one_column(tmp_path)

    result = _ingest(api, tmp_path, str(pdf.path), str(bad.path), "--wait")

    assert result.returncode == 1
    assert "RUN" in result.stdout and "PAGES" in result.stdout
    assert "refused 400" in result.stdout
    assert "done" in result.stdout
    assert api.count("SELECT COUNT(*) FROM app.runs") == 1


def test_ingest_names_a_missing_file_and_an_unreachable_api(api: Api, tmp_path: Path) -> None:
    missing = _ingest(api, tmp_path, str(tmp_path / "nope.pdf"))
    pdf = one_column(tmp_path)
    unreachable = run_cli(
        tmp_path / "shell", "ingest", str(pdf.path), JEJAKEKAL_API_URL="http://127.0.0.1:9"
    )

    assert missing.returncode == 1
    assert missing.stderr.strip().startswith("error: no such file or folder")
    assert unreachable.returncode == 1
    assert "cannot reach the API" in unreachable.stderr
    assert len(unreachable.stderr.strip().splitlines()) == 1
