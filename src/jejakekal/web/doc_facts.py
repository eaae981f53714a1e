"""What a docir/2 tells the viewer beyond its text: each PDF page's size (to place a
cited box over the page's image), the pages OCR could not read and the blocks it read
with low confidence. Plain functions over the artifact's JSON, read defensively: a
malformed field shows as missing, never fails the page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

LOW_CONFIDENCE = 0.5  # below this a recognised block is flagged (docir `confidence`)
PREVIEW_CHARS = 80
_UNREAD_NOTES = {
    "ocr_unavailable": "Tesseract is not installed: page {page} was not read",
    "ocr_off": "OCR is off (JEJAKEKAL_OCR=off): page {page} was not read",
}


@dataclass(frozen=True)
class PageSize:
    width: float
    height: float


@dataclass(frozen=True)
class PageBox:
    """A cited box on a PDF page, as per cents of the page's image (top-left origin),
    so the template places it with CSS alone."""

    page: int
    image_url: str
    left: float
    top: float
    width: float
    height: float


@dataclass(frozen=True)
class FlaggedBlock:
    block_id: str
    page: int | None
    confidence: float
    preview: str


@dataclass(frozen=True)
class DocFacts:
    """A run's docir as the viewer uses it (`pages` is empty for docir/1)."""

    run_id: str
    text: str | None
    pages: Mapping[int, PageSize]
    unread: tuple[str, ...]  # one note per page no text was read from
    flagged: tuple[FlaggedBlock, ...]  # recognised with low confidence


def doc_facts(run_id: str, docir: object) -> DocFacts:
    content = docir if isinstance(docir, dict) else {}
    text = content.get("text")
    pages: dict[int, PageSize] = {}
    unread = []
    for page in _mappings(content.get("pages")):
        number, width, height = (
            page.get("page"),
            _size(page.get("width")),
            _size(page.get("height")),
        )
        if not isinstance(number, int):
            continue
        if width is not None and height is not None:
            pages[number] = PageSize(width, height)
        note = _UNREAD_NOTES.get(str(page.get("text_from")))
        if note is not None:
            unread.append(note.format(page=number))
    return DocFacts(
        run_id=run_id,
        text=text if isinstance(text, str) else None,
        pages=pages,
        unread=tuple(unread),
        flagged=_flagged(content, text if isinstance(text, str) else ""),
    )


def _flagged(docir: Mapping[str, object], text: str) -> tuple[FlaggedBlock, ...]:
    listed = docir.get("low_confidence_blocks")
    low_ids = {b for b in listed if isinstance(b, str)} if isinstance(listed, list) else set()
    flagged = []
    for block in _mappings(docir.get("blocks")):
        confidence = block.get("confidence")
        if not isinstance(confidence, int | float):
            continue
        block_id = str(block.get("block_id", ""))
        if confidence >= LOW_CONFIDENCE and block_id not in low_ids:
            continue
        start, end = block.get("start"), block.get("end")
        preview = text[start:end] if isinstance(start, int) and isinstance(end, int) else ""
        locator = block.get("locator")
        page = locator.get("page") if isinstance(locator, dict) else None
        flagged.append(
            FlaggedBlock(
                block_id=block_id,
                page=page if isinstance(page, int) else None,
                confidence=round(float(confidence), 2),
                preview=_shortened(preview),
            )
        )
    return tuple(flagged)


def page_box(facts: DocFacts | None, locator: object) -> PageBox | None:
    """Where a PDF citation's `{"page", "bbox"}` sits on its page; None for any other
    locator, or a page whose size the docir does not give."""
    if facts is None or not isinstance(locator, dict):
        return None
    page, bbox = locator.get("page"), locator.get("bbox")
    if not isinstance(page, int) or page not in facts.pages:
        return None
    size = facts.pages[page]
    if not isinstance(bbox, list) or len(bbox) != 4:
        return None
    if not all(isinstance(v, int | float) for v in bbox):
        return None
    x0, y0, x1, y1 = (float(v) for v in bbox)
    left, top = _pct(x0, size.width), _pct(y0, size.height)
    return PageBox(
        page=page,
        image_url=page_image_url(facts.run_id, page),
        left=left,
        top=top,
        width=min(_pct(x1 - x0, size.width), round(100.0 - left, 2)),
        height=min(_pct(y1 - y0, size.height), round(100.0 - top, 2)),
    )


def page_image_url(run_id: str, page: int) -> str:
    return f"/runs/{run_id}/pages/{page}.png"


def _pct(value: float, whole: float) -> float:
    return round(min(max(100.0 * value / whole, 0.0), 100.0), 2)


def _size(value: object) -> float | None:
    """A page's width or height in points; None unless it is a positive number."""
    return float(value) if isinstance(value, int | float) and value > 0 else None


def _shortened(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= PREVIEW_CHARS else line[: PREVIEW_CHARS - 1] + "…"


def _mappings(value: object) -> list[Mapping[str, object]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
