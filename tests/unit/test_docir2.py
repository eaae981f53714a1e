"""docir/2, chunk-index/2 and memo/2 (issue 24): offsets derived from the blocks, locators
kept and checked, recognised pages in their place, citations down to the page and box;
format detection and the blob store."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from jejakekal.domain import docir2 as d2
from jejakekal.domain import documents as docs
from jejakekal.domain import memo as memos
from jejakekal.domain.artifact_bodies import DocIR, Docir2Params
from jejakekal.domain.errors import FormatMismatch, PayloadTooLarge, UnsupportedMediaType
from jejakekal.domain.extraction import ExtractedBlock, Extraction, OcrPage, PageInfo
from jejakekal.domain.formats import resolve_format, sniff
from jejakekal.storage.blobs import BlobStore

PARAMS: Docir2Params = {"format": "pdf", "ocr": "auto", "ocr_engine": None, "ocr_threshold": 0.5}


def _pdf_block(
    text: str, page: int, kind: str = "paragraph", level: int | None = None
) -> ExtractedBlock:
    locator: dict[str, object] = {"page": page, "bbox": [72.0, 100.0, 500.0, 120.0]}
    return ExtractedBlock(kind=kind, text=text, locator=locator, level=level)


def _pages(n: int) -> list[PageInfo]:
    return [PageInfo(page=i, width=612.0, height=792.0, chars=100) for i in range(1, n + 1)]


def _build(blocks: list[ExtractedBlock], pages: int = 2) -> DocIR:
    extraction = Extraction(blocks=blocks, pages=_pages(pages))
    merged, doc_pages = d2.merge_pages(extraction, {}, {})
    return d2.build_docir2(
        merged,
        doc_pages,
        params=PARAMS,
        producer="parser:pdf",
        version="1",
        run_id="doc-1",
        raw_sha256="0" * 64,
    )


def test_the_text_is_the_blocks_joined_by_a_blank_line_and_every_offset_holds() -> None:
    docir = _build(
        [
            _pdf_block("Title", 1, "heading", level=1),
            _pdf_block("First line\r\nsecond line\n\n", 1),
            _pdf_block("   ", 2),  # blank: no block
            _pdf_block("On page two.", 2),
        ]
    )

    assert docir["text"] == "Title\n\nFirst line\nsecond line\n\nOn page two."
    assert [docir["text"][b["start"] : b["end"]] for b in docir["blocks"]] == [
        "Title",
        "First line\nsecond line",
        "On page two.",
    ]
    assert [b["locator"]["page"] for b in docir["blocks"]] == [1, 1, 2]
    assert [p["text_from"] for p in docir["pages"]] == ["text_layer", "text_layer"]
    assert docir["blocks"][0]["level"] == 1 and docir["blocks"][1]["level"] is None


def test_recognised_pages_take_their_place_and_low_confidence_is_flagged() -> None:
    extraction = Extraction(
        blocks=[_pdf_block("Page one text.", 1), _pdf_block("Page three text.", 3)],
        pages=_pages(3),
    )
    ocr: OcrPage = {
        "page": 2,
        "width": 612.0,
        "height": 792.0,
        "blocks": [
            {"text": "Read by OCR.", "bbox": [1.0, 2.0, 3.0, 4.0], "confidence": 0.95, "words": 3},
            {"text": "Smudged words.", "bbox": [1.0, 5.0, 3.0, 6.0], "confidence": 0.3, "words": 2},
        ],
    }

    blocks, pages = d2.merge_pages(extraction, {2: ocr}, {})
    docir = d2.build_docir2(
        blocks, pages, params=PARAMS, producer="p", version="1", run_id="r", raw_sha256="0" * 64
    )

    assert [docir["text"][b["start"] : b["end"]] for b in docir["blocks"]] == [
        "Page one text.",
        "Read by OCR.",
        "Smudged words.",
        "Page three text.",
    ]
    assert [p["text_from"] for p in docir["pages"]] == ["text_layer", "ocr", "text_layer"]
    assert docir["low_confidence_blocks"] == [docir["blocks"][2]["block_id"]]
    assert docir["ocr_required"] is True


def test_pages_without_ocr_say_why() -> None:
    extraction = Extraction(blocks=[_pdf_block("Text.", 1)], pages=_pages(3))

    _, pages = d2.merge_pages(
        extraction, {}, {2: d2.PageSource.OCR_UNAVAILABLE, 3: d2.PageSource.OCR_OFF}
    )

    assert [p["text_from"] for p in pages] == ["text_layer", "ocr_unavailable", "ocr_off"]


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda d: d["blocks"][1].update(start=d["blocks"][1]["start"] + 1), "blank line"),
        (lambda d: d["blocks"][1].update(kind="quote"), "block_id"),
        (lambda d: d["blocks"][0]["locator"].update(page=9), "bad locator"),
        (lambda d: d["blocks"][0]["locator"].update(bbox=[5, 5, 1, 1]), "bad locator"),
        (lambda d: d.update(text=d["text"] + "x"), "text_sha256"),
        (lambda d: d["blocks"][0].update(confidence=1.5), "confidence"),
        (lambda d: d.update(ocr_required=True), "ocr_required"),
    ],
)
def test_a_tampered_docir2_breaks_an_invariant(tamper: object, message: str) -> None:
    docir = _build([_pdf_block("One.", 1), _pdf_block("Two.", 2)])
    broken = copy.deepcopy(docir)

    tamper(broken)  # type: ignore[operator]

    with pytest.raises(docs.DocumentInvariantError, match=message):
        docs.check_docir(broken)


def test_chunks_carry_pages_and_citations_carry_the_block_locator() -> None:
    docir = _build([_pdf_block("The crane was fixed. It works.", 1), _pdf_block("More.", 2)])
    index = docs.build_chunk_index(docir, run_id="r", docir_sha256="d", max_chars=20)

    memo = memos.build_memo(docir, index, run_id="r", docir_sha256="d", chunk_index_sha256="c")

    assert index["schema"] == "chunk-index/2"
    assert [c["pages"] for c in index["chunks"]] == [[1], [1], [2]]
    assert memo["schema"] == "memo/2"
    citation = memo["claims"][0]["citations"][0]
    assert citation["locator"] == docir["blocks"][0]["locator"]
    assert memo["claims"][0]["low_confidence"] is False
    assert memo["verification"]["overall"] == "verified"


def test_a_citation_pointing_at_another_box_fails_verification() -> None:
    docir = _build([_pdf_block("The crane was fixed.", 1), _pdf_block("More words.", 2)])
    index = docs.build_chunk_index(docir, run_id="r", docir_sha256="d")
    memo = memos.build_memo(docir, index, run_id="r", docir_sha256="d", chunk_index_sha256="c")
    moved = copy.deepcopy(memo)
    moved["claims"][0]["citations"][0]["locator"] = {"page": 2, "bbox": [0, 0, 1, 1]}

    verdict = memos.verify_memo(moved, docir, index)

    checks = verdict["claims"][0]["checks"]
    assert verdict["overall"] != "verified"
    assert any("locator_mismatch" in c["problems"] for c in checks)


@pytest.mark.parametrize(
    ("head", "seen"),
    [
        (b"%PDF-1.7\n", "pdf"),
        (b"\xef\xbb\xbf%PDF-1.4", "pdf"),
        (b"PK\x03\x04\x14\x00", "zip"),
        (b"  <!DOCTYPE html><html>", "html"),
        (b"\xef\xbb\xbf<html lang=en>", "html"),
        (b"# A heading\n", "text"),
        (b"caf\xc3", "text"),  # a UTF-8 character cut by the head's end
        (b"\x00\x00\x01", "binary"),
        (b"caf\xe9 au lait", "binary"),
    ],
)
def test_sniff_reads_what_the_first_bytes_are(head: bytes, seen: str) -> None:
    assert sniff(head) == seen


def test_the_declared_format_must_agree_with_the_bytes() -> None:
    pdf = b"%PDF-1.7\n"

    assert resolve_format(pdf, declared=None, content_type=None, filename="x.bin") == "pdf"
    assert resolve_format(b"text", declared=None, content_type=None, filename="a.md") == "markdown"
    assert (
        resolve_format(b"PK\x03\x04", declared=None, content_type="application/octet-stream",
                       filename=None)
        == "docx"
    )  # fmt: skip
    with pytest.raises(FormatMismatch, match="declared html but its bytes are a PDF"):
        resolve_format(pdf, declared=None, content_type="text/html", filename=None)
    with pytest.raises(FormatMismatch):
        resolve_format(b"<html>", declared="pdf", content_type="text/html", filename=None)
    with pytest.raises(UnsupportedMediaType):
        resolve_format(b"GIF89a", declared=None, content_type="image/gif", filename=None)


def test_the_blob_store_keeps_bytes_by_hash_and_a_refused_upload_leaves_nothing(
    tmp_path: Path,
) -> None:
    store = BlobStore(tmp_path / "blobs")

    first = store.put(b"same bytes")
    second = store.put(b"same bytes")
    with store.writer(cap_bytes=8) as writer, pytest.raises(PayloadTooLarge):
        writer.write(b"12345")
        writer.write(b"6789")

    assert first == second
    assert store.path(first.sha256).read_bytes() == b"same bytes"
    files = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert files == [store.path(first.sha256)]
    with pytest.raises(ValueError, match="not a sha256"):
        store.path("../../etc/passwd")
