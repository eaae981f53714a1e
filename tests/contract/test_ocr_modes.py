"""OCR of scanned PDF pages (issue 24): `JEJAKEKAL_OCR=auto|force|off`, and a machine
without Tesseract, where the run still finishes and `/healthz` says so. Both backends,
with the real Tesseract that `make test` installs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Api, make_settings, served_api
from corpus_pdf import one_column
from corpus_scans import clean_page, low_quality_page
from jejakekal.adapters import ocr


def _run(api: Api, path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    reply = api.client.post(
        "/runs",
        content=path.read_bytes(),
        params={"filename": path.name},
        headers={"Content-Type": "application/pdf"},
    )
    assert reply.status_code == 202, reply.text
    run_id = reply.json()["run_id"]
    view = api.wait_status(run_id, "done", "error", timeout=120)
    assert view["status"] == "done", view
    docir: dict[str, Any] = api.client.get(f"/artifacts/{run_id}:docir").json()["content"]
    return view, docir


def _steps(view: dict[str, Any]) -> list[str]:
    return [s["stepId"] for s in view["steps"]]


@pytest.fixture
def api_with(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Api]:
    settings = make_settings(database_url, tmp_path, **request.param)
    with served_api(settings) as served:
        yield served


def test_a_scanned_page_is_read_by_ocr_with_boxes_and_confidences(api: Api, tmp_path: Path) -> None:
    expected = clean_page(tmp_path / "scan.pdf")

    view, docir = _run(api, tmp_path / "scan.pdf")

    assert "ocr:1-1" in _steps(view)
    assert [p["text_from"] for p in docir["pages"]] == ["ocr"]
    assert docir["params"]["ocr_engine"].startswith("tesseract ")
    words = {w.strip(".,").casefold() for line in expected[0] for w in line.split()}
    found = {w.strip(".,").casefold() for w in docir["text"].split()}
    assert len(words & found) / len(words) >= 0.9
    for block in docir["blocks"]:
        assert block["locator"]["page"] == 1 and 0 < block["confidence"] <= 1
    memo = api.client.get(f"/artifacts/{view['run_id']}:memo").json()["content"]
    assert memo["verification"]["overall"] == "verified"
    assert all(c["locator"]["page"] == 1 for k in memo["claims"] for c in k["citations"])


def test_a_poor_scan_flags_its_low_confidence_blocks(api: Api, tmp_path: Path) -> None:
    low_quality_page(tmp_path / "poor.pdf")

    view, docir = _run(api, tmp_path / "poor.pdf")

    low = set(docir["low_confidence_blocks"])
    assert low, [b["confidence"] for b in docir["blocks"]]
    assert docir["ocr_required"] is True
    memo = api.client.get(f"/artifacts/{view['run_id']}:memo").json()["content"]
    for claim in memo["claims"]:
        cited = claim["citations"][0]["start"]
        block = next(b for b in docir["blocks"] if b["start"] <= cited < b["end"])
        assert claim["low_confidence"] is (block["block_id"] in low)


@pytest.mark.parametrize("api_with", [{"JEJAKEKAL_OCR": "off"}], indirect=True)
def test_ocr_off_marks_the_pages_and_the_run_finishes(api_with: Api, tmp_path: Path) -> None:
    clean_page(tmp_path / "scan.pdf")

    view, docir = _run(api_with, tmp_path / "scan.pdf")

    assert not [s for s in _steps(view) if s.startswith("ocr:")]
    assert [p["text_from"] for p in docir["pages"]] == ["ocr_off"]
    assert docir["blocks"] == []


@pytest.mark.parametrize("api_with", [{"JEJAKEKAL_OCR": "force"}], indirect=True)
def test_ocr_force_reads_even_pages_with_a_text_layer(api_with: Api, tmp_path: Path) -> None:
    pdf = one_column(tmp_path)

    view, docir = _run(api_with, pdf.path)

    assert [s for s in _steps(view) if s.startswith("ocr:")] == ["ocr:1-2", "ocr:3-3"]
    assert [p["text_from"] for p in docir["pages"]] == ["ocr"] * 3
    assert "harbour" in docir["text"].casefold()


def test_without_tesseract_pages_are_marked_and_healthz_says_so(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on a laptop without Debian's tesseract-ocr: the adapter finds no binary.
    monkeypatch.setattr(ocr, "tesseract_version", lambda: None)
    clean_page(tmp_path / "scan.pdf")

    view, docir = _run(api, tmp_path / "scan.pdf")
    health = api.client.get("/healthz").json()

    assert [p["text_from"] for p in docir["pages"]] == ["ocr_unavailable"]
    assert not [s for s in _steps(view) if s.startswith("ocr:")]
    assert health["ocr"] == {"mode": "auto", "engine": None}


def test_healthz_names_the_tesseract_found(api: Api) -> None:
    health = api.client.get("/healthz").json()

    assert health["ocr"]["mode"] == "auto"
    assert health["ocr"]["engine"].startswith("tesseract 5")


def test_a_tesseract_failure_ends_the_run_error_with_the_reason(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: str, pages: list[int], **_: object) -> list[object]:
        raise ocr.OcrUnavailable("Tesseract failed on a page: out of memory")

    monkeypatch.setattr(ocr, "recognise", broken)
    clean_page(tmp_path / "scan.pdf")
    reply = api.client.post(
        "/runs", content=(tmp_path / "scan.pdf").read_bytes(),
        headers={"Content-Type": "application/pdf"},
    )  # fmt: skip

    view = api.wait_status(reply.json()["run_id"], "done", "error", timeout=60)

    assert view["status"] == "error"
    assert view["error"] == "OCR of pages 1-1 failed: Tesseract failed on a page: out of memory"
    assert api.count(f"SELECT COUNT(*) FROM app.artifacts WHERE run_id = '{view['run_id']}'") == 0
