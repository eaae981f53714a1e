"""The OCR adapter reads image-only PDFs with the installed Tesseract (never skipped)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from corpus_scans import clean_page, low_quality_page, multi_page
from jejakekal.adapters.ocr import OcrUnavailable, recognise, tesseract_version
from jejakekal.domain.extraction import OcrPage


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.casefold())


def _word_accuracy(expected_lines: list[str], page: OcrPage) -> float:
    """The fraction of expected words found (each recognised word counted once)."""
    found = _words(" ".join(block["text"] for block in page["blocks"]))
    hits = 0
    for word in _words(" ".join(expected_lines)):
        if word in found:
            found.remove(word)
            hits += 1
    return hits / len(_words(" ".join(expected_lines)))


def _mean_confidence(page: OcrPage) -> float:
    words = sum(block["words"] for block in page["blocks"])
    return sum(block["confidence"] * block["words"] for block in page["blocks"]) / words


def test_tesseract_version_is_a_version_string() -> None:
    tesseract_version.cache_clear()

    version = tesseract_version()

    assert version is not None, "tesseract is not installed: OCR tests need it on PATH"
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?", version)


def test_a_clean_scan_reads_back_its_words(tmp_path: Path) -> None:
    expected = clean_page(tmp_path / "clean.pdf")

    [page] = recognise(str(tmp_path / "clean.pdf"), [1])

    assert page["page"] == 1
    assert (page["width"], page["height"]) == (612.0, 792.0)
    assert _word_accuracy(expected[0], page) >= 0.9


def test_boxes_lie_on_the_page_with_the_heading_above_the_paragraphs(tmp_path: Path) -> None:
    clean_page(tmp_path / "clean.pdf")

    [page] = recognise(str(tmp_path / "clean.pdf"), [1])

    blocks = page["blocks"]
    assert len(blocks) >= 2
    for block in blocks:
        x0, y0, x1, y1 = block["bbox"]
        assert 0 <= x0 < x1 <= page["width"]
        assert 0 <= y0 < y1 <= page["height"]
        assert block["words"] == len(block["text"].split())
    heading, *paragraphs = blocks
    assert "Quarterly Report" in heading["text"]
    assert all(heading["bbox"][3] <= p["bbox"][1] for p in paragraphs)


def test_a_poor_scan_is_less_confident_than_a_clean_one(tmp_path: Path) -> None:
    clean_page(tmp_path / "clean.pdf")
    low_quality_page(tmp_path / "low.pdf")

    [clean] = recognise(str(tmp_path / "clean.pdf"), [1])
    [low] = recognise(str(tmp_path / "low.pdf"), [1])

    for block in clean["blocks"] + low["blocks"]:
        assert 0.0 <= block["confidence"] <= 1.0
    assert _mean_confidence(low) < _mean_confidence(clean) - 0.1


def test_only_the_requested_pages_are_recognised(tmp_path: Path) -> None:
    expected = multi_page(tmp_path / "six.pdf")

    [page] = recognise(str(tmp_path / "six.pdf"), [2])

    assert page["page"] == 2
    assert _word_accuracy(expected[1], page) >= 0.9
    assert "apples" not in _words(" ".join(block["text"] for block in page["blocks"]))


def test_the_same_scan_recognises_identically(tmp_path: Path) -> None:
    multi_page(tmp_path / "six.pdf")

    first = recognise(str(tmp_path / "six.pdf"), [5, 1])
    second = recognise(str(tmp_path / "six.pdf"), [5, 1])

    assert [page["page"] for page in first] == [5, 1]
    assert first == second


def test_a_missing_language_is_reported_as_unavailable(tmp_path: Path) -> None:
    clean_page(tmp_path / "clean.pdf")

    with pytest.raises(OcrUnavailable, match="Tesseract failed"):
        recognise(str(tmp_path / "clean.pdf"), [1], lang="zzz")


def test_a_missing_tesseract_is_reported_as_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean_page(tmp_path / "clean.pdf")
    monkeypatch.setattr("pytesseract.pytesseract.tesseract_cmd", str(tmp_path / "no-tesseract"))
    tesseract_version.cache_clear()
    try:
        assert tesseract_version() is None
        with pytest.raises(OcrUnavailable, match="not installed"):
            recognise(str(tmp_path / "clean.pdf"), [1])
    finally:
        monkeypatch.undo()
        tesseract_version.cache_clear()
