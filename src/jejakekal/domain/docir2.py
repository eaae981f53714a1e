"""docir/2: the document IR of PDF, HTML and DOCX files, whose blocks carry locators.

A binary format has no text of its own, so the text is made here: the blocks a parser
(or OCR) extracted, joined by one blank line, in reading order. Every offset is derived
from that join, so `text[start:end]` is a block by construction, and each block keeps
where it sits in the source (`domain.extraction` lists the locator of each format).
Text and Markdown stay docir/1 (their locator, the source lines, is already exact).
"""

from __future__ import annotations

from collections.abc import Mapping

from jejakekal.domain.artifact_bodies import Block, DocIR, Docir2Params, DocPage
from jejakekal.domain.documents import (
    NEWLINE,
    OCR_THRESHOLD,
    OFFSETS,
    artifact_header,
    block_id,
    canonical_text,
    check_block_fields,
    is_span,
    require,
    text_sha256,
)
from jejakekal.domain.extraction import ExtractedBlock, Extraction, OcrPage, PageInfo

DOCIR2_SCHEMA = "docir/2"
FORMATS = ("pdf", "html", "docx")
SEPARATOR = "\n\n"  # between two blocks of the docir/2 text


class PageSource:
    """Where a PDF page's text came from (`pages[].text_from` in docir/2)."""

    TEXT_LAYER = "text_layer"
    OCR = "ocr"
    OCR_UNAVAILABLE = "ocr_unavailable"  # it needed OCR; Tesseract is not installed
    OCR_OFF = "ocr_off"  # it needed OCR; JEJAKEKAL_OCR=off


def ocr_extracted(page: OcrPage) -> list[ExtractedBlock]:
    """A recognised page's paragraphs as blocks, its word confidences their confidence."""
    return [
        ExtractedBlock(
            kind="paragraph",
            text=block["text"],
            locator={"page": page["page"], "bbox": block["bbox"]},
            confidence=block["confidence"],
        )
        for block in page["blocks"]
    ]


def merge_pages(
    extraction: Extraction, ocr: Mapping[int, OcrPage], unrecognised: Mapping[int, str]
) -> tuple[list[ExtractedBlock], list[DocPage]]:
    """A PDF's blocks in page order, text-layer and recognised pages interleaved, and
    each page's source. `unrecognised` maps pages that needed OCR and got none to why."""
    by_page: dict[int, list[ExtractedBlock]] = {}
    for block in extraction.blocks:
        page = block.locator.get("page")
        by_page.setdefault(page if isinstance(page, int) else 0, []).append(block)
    blocks: list[ExtractedBlock] = []
    pages: list[DocPage] = []
    for info in extraction.pages:
        if info.page in ocr:
            blocks.extend(ocr_extracted(ocr[info.page]))
            source = PageSource.OCR
        else:
            blocks.extend(by_page.get(info.page, []))
            source = unrecognised.get(info.page, PageSource.TEXT_LAYER)
        pages.append(_page(info, source))
    return blocks, pages


def _page(info: PageInfo, source: str) -> DocPage:
    return {
        "page": info.page,
        "width": round(info.width, 2),
        "height": round(info.height, 2),
        "text_from": source,
    }


def _clean(text: str) -> str:
    """A block's text in canonical form: "\\n" newlines, no blank lines around it."""
    return canonical_text(text).strip("\n").rstrip()


def build_docir2(
    blocks: list[ExtractedBlock],
    pages: list[DocPage],
    *,
    params: Docir2Params,
    producer: str,
    version: str,
    run_id: str,
    raw_sha256: str,
) -> DocIR:
    """The docir/2 body, checked by `check_docir2` before it is returned."""
    parts: list[str] = []
    built: list[Block] = []
    offset = 0
    for block in blocks:
        body = _clean(block.text)
        if not body.strip():
            continue
        if parts:
            offset += len(SEPARATOR)
        start, end = offset, offset + len(body)
        parts.append(body)
        offset = end
        built.append(
            {
                "block_id": "",  # derived below, once the text's hash is known
                "kind": block.kind,
                "level": block.level if block.kind == "heading" else None,
                "start": start,
                "end": end,
                "parent_id": None,
                "order": len(built),
                "confidence": round(min(max(block.confidence, 0.0), 1.0), 4),
                "locator": dict(block.locator),
            }
        )
    text = SEPARATOR.join(parts)
    digest = text_sha256(text)
    for block_ in built:
        block_["block_id"] = block_id(digest, block_["kind"], block_["start"], block_["end"])
    low_ids = [b["block_id"] for b in built if b["confidence"] < OCR_THRESHOLD]
    docir: DocIR = {
        **artifact_header(
            DOCIR2_SCHEMA,
            run_id=run_id,
            producer=producer,
            version=version,
            params=params,
            inputs=[{"type": "raw", "sha256": raw_sha256}],
        ),
        "format": params["format"],
        "text": text,
        "text_sha256": digest,
        "newline": NEWLINE,
        "offsets": OFFSETS,
        "blocks": built,
        "ocr_required": bool(low_ids),
        "low_confidence_blocks": low_ids,
        "pages": pages,
    }
    check_docir2(docir)
    return docir


def _locator_ok(fmt: str, locator: object, page_count: int) -> bool:
    if not isinstance(locator, dict):
        return False
    if fmt == "pdf":
        page, bbox = locator.get("page"), locator.get("bbox")
        return (
            set(locator) == {"page", "bbox"}
            and type(page) is int
            and 1 <= page <= page_count
            and isinstance(bbox, list)
            and len(bbox) == 4
            and all(type(v) in (int, float) for v in bbox)
            and bbox[0] <= bbox[2]
            and bbox[1] <= bbox[3]
        )
    if fmt == "html":
        return set(locator) == {"path"} and isinstance(locator["path"], str)
    keys = set(locator)
    return len(keys) == 1 and keys <= {"paragraph", "table"} and type(locator[keys.pop()]) is int


def check_docir2(docir: DocIR) -> None:
    """Raise `DocumentInvariantError` unless every docir/2 invariant holds."""
    require(docir.get("schema") == DOCIR2_SCHEMA, f"schema is not {DOCIR2_SCHEMA!r}")
    fmt = docir.get("format")
    require(fmt in FORMATS, f"format {fmt!r} is not one of {FORMATS}")
    text = docir.get("text")
    require(isinstance(text, str) and "\r" not in text, "text is not canonical")
    assert isinstance(text, str)
    require(docir.get("text_sha256") == text_sha256(text), "text_sha256 does not match text")
    require(docir.get("newline") == NEWLINE and docir.get("offsets") == OFFSETS, "statements")
    pages = docir.get("pages")
    require(isinstance(pages, list), "pages is not a list")
    assert isinstance(pages, list)
    require(
        [p.get("page") for p in pages] == list(range(1, len(pages) + 1)),
        "pages are not numbered 1..n",
    )
    previous_end = 0
    for order, block in enumerate(docir.get("blocks", [])):
        where = f"block {order}"
        start, end = block.get("start"), block.get("end")
        require(is_span(start, end, len(text)), f"{where}: span is empty or out of bounds")
        gap = text[previous_end:start]
        require((order == 0 and start == 0) or gap == SEPARATOR, f"{where}: not after a blank line")
        check_block_fields(block, order, docir["text_sha256"])
        require(_locator_ok(str(fmt), block.get("locator"), len(pages)), f"{where}: bad locator")
        previous_end = end
    require(previous_end == len(text), "text runs past its last block")
    low_ids = [b["block_id"] for b in docir["blocks"] if b["confidence"] < OCR_THRESHOLD]
    require(docir.get("low_confidence_blocks") == low_ids, "low_confidence_blocks is wrong")
    require(docir.get("ocr_required") is bool(low_ids), "ocr_required is wrong")


def block_at(docir: DocIR, offset: int) -> Block | None:
    """The block holding a text offset (blocks are sorted and disjoint)."""
    blocks = docir["blocks"]
    lo, hi = 0, len(blocks)
    while lo < hi:
        mid = (lo + hi) // 2
        if blocks[mid]["end"] <= offset:
            lo = mid + 1
        else:
            hi = mid
    if lo < len(blocks) and blocks[lo]["start"] <= offset:
        return blocks[lo]
    return None
