"""The PDF parser: blocks from a PDF's text layer, each with its page and box.

pdfium gives characters with boxes; the layout is rebuilt here from geometry alone:
characters on one baseline make a row, a row splits into segments at wide gaps,
gutters that most rows leave blank split a page into columns (read left to right),
rows whose segments line up make a table, and the remaining lines join into
paragraphs, list items and headings by spacing, indentation, bullets and font size.
Coordinates are PDF points from the shown page's top-left corner, y growing down.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_raw

from jejakekal.adapters.pdf_layout import (
    Box,
    Glyph,
    Row,
    Table,
    layout_blocks,
    read_order,
    rows_of,
)
from jejakekal.adapters.pdfium_lock import PDFIUM_LOCK
from jejakekal.domain.extraction import (
    Extraction,
    Limits,
    PageInfo,
    UnreadableDocument,
)


class PdfParser:
    """Reads PDFs with pdfium; pages without a text layer are left to OCR."""

    name = "parser:pdf"
    version = "1"
    format = "pdf"

    def pages(self, path: str, limits: Limits) -> list[PageInfo]:
        """Each page's size and how many characters its text layer holds (no layout)."""
        with _open(path, limits) as document:
            return [_read_page(document, index, False)[0] for index in range(len(document))]

    def extract(self, path: str, limits: Limits, *, skip_pages: frozenset[int]) -> Extraction:
        with _open(path, limits) as document:
            infos: list[PageInfo] = []
            layouts: list[tuple[int, list[Row | Table]]] = []
            for index in range(len(document)):
                info, layout = _read_page(document, index, index + 1 not in skip_pages)
                infos.append(info)
                if layout is not None:
                    layouts.append((index + 1, layout))
        blocks = layout_blocks(layouts)
        if len(blocks) > limits.max_blocks:
            raise UnreadableDocument(f"the PDF has more than {limits.max_blocks} blocks")
        return Extraction(blocks=blocks, pages=infos)


@contextmanager
def _open(path: str, limits: Limits) -> Iterator[pdfium.PdfDocument]:
    """The open document, its page count checked; pdfium's errors become ours."""
    with PDFIUM_LOCK:
        _reset_last_error()
        try:
            document = pdfium.PdfDocument(path)
        except pdfium.PdfiumError as error:
            raise UnreadableDocument(_open_failure(error)) from error
        except OSError as error:  # no machine path in the message: the operator sees it
            raise UnreadableDocument("the PDF cannot be read: the file cannot be opened") from error
        try:
            # The page count comes from the page tree's /Count: checked before any page is read.
            count = len(document)
            if count <= 0:
                raise UnreadableDocument("the PDF has no pages")
            if count > limits.max_pages:
                raise UnreadableDocument(
                    f"the PDF has {count} pages; the limit is {limits.max_pages}"
                )
            yield document
        except pdfium.PdfiumError as error:  # a page or its text that pdfium cannot load
            raise UnreadableDocument("the PDF cannot be read: a page is damaged") from error
        finally:
            document.close()


def _reset_last_error() -> None:
    """Set pdfium's last error (a global) to "format" before a load: some failures, such
    as an empty page tree, leave it as it was, and a stale "password" would misreport."""
    with suppress(pdfium.PdfiumError):
        pdfium.PdfDocument(b"").close()


def _open_failure(error: Exception) -> str:
    code = getattr(error, "err_code", None)
    if code in (pdfium_raw.FPDF_ERR_PASSWORD, pdfium_raw.FPDF_ERR_SECURITY):
        return "the PDF is encrypted"
    if code == pdfium_raw.FPDF_ERR_FILE:
        return "the PDF cannot be read: the file cannot be opened"
    return "the PDF cannot be read: the file is not a PDF or is damaged"


def _read_page(
    document: pdfium.PdfDocument, index: int, with_layout: bool
) -> tuple[PageInfo, list[Row | Table] | None]:
    """The page's size and text character count, and its layout when asked for."""
    page = document[index]
    try:
        width, height = page.get_size()
        textpage = page.get_textpage()
        try:
            text: str = textpage.get_text_range()
            layout = None
            if with_layout:
                view = _View(page.get_cropbox(), page.get_rotation())
                layout = read_order(rows_of(_read_glyphs(textpage, view)))
        finally:
            textpage.close()
    finally:
        page.close()
    chars = sum(1 for char in text if not char.isspace())
    info = PageInfo(page=index + 1, width=round(width, 2), height=round(height, 2), chars=chars)
    return info, layout


@dataclass(frozen=True, slots=True)
class _View:
    """Maps PDF user space (y up) onto the page as shown: cropped, turned, y down."""

    crop: tuple[float, float, float, float]  # left, bottom, right, top
    rotation: int  # clockwise degrees: 0, 90, 180 or 270

    def point(self, x: float, y: float) -> tuple[float, float]:
        left, bottom, right, top = self.crop
        u, v, width, height = x - left, y - bottom, right - left, top - bottom
        if self.rotation == 90:
            return v, u
        if self.rotation == 180:
            return width - u, v
        if self.rotation == 270:
            return height - v, width - u
        return u, height - v

    def box(self, x0: float, y0: float, x1: float, y1: float) -> Box:
        (ax, ay), (bx, by) = self.point(x0, y0), self.point(x1, y1)
        return Box(min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))


def _read_glyphs(textpage: pdfium.PdfTextPage, view: _View) -> list[Glyph]:
    """The visible characters with their loose boxes (advance width x line height)."""
    glyphs: list[Glyph] = []
    origin_x, origin_y = ctypes.c_double(), ctypes.c_double()
    matrix = pdfium_raw.FS_MATRIX()
    for i in range(textpage.count_chars()):
        code = pdfium_raw.FPDFText_GetUnicode(textpage, i)
        # pdfium marks a hyphen ending a line as 0x02; a broken font map can give anything.
        char = "-" if code == 2 else chr(code) if code <= 0x10FFFF else "\ufffd"
        if char.isspace() or ord(char) < 32:
            continue  # spaces are recovered from gaps; pdfium also inserts its own "\r\n"
        x0, y0, x1, y1 = textpage.get_charbox(i, loose=True)
        pdfium_raw.FPDFText_GetCharOrigin(
            textpage, i, ctypes.byref(origin_x), ctypes.byref(origin_y)
        )
        # The font size pdfium reports ignores the text matrix: scale it into page points.
        pdfium_raw.FPDFText_GetMatrix(textpage, i, ctypes.byref(matrix))
        scale = abs(matrix.a * matrix.d - matrix.b * matrix.c) ** 0.5 or 1.0
        size = float(pdfium_raw.FPDFText_GetFontSize(textpage, i)) * scale
        if not all(map(math.isfinite, (x0, y0, x1, y1, origin_x.value, origin_y.value, size))):
            continue  # a degenerate matrix can throw a glyph to infinity
        box = view.box(x0, y0, x1, y1)
        baseline = view.point(origin_x.value, origin_y.value)[1]
        glyphs.append(Glyph(char, box, baseline, size if size > 0 else max(y1 - y0, 1.0)))
    return glyphs
