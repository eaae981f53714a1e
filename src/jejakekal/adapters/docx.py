"""Word documents (DOCX) read into blocks with paragraph and table locators (python-docx).

The zip's directory is checked with `zipfile` before python-docx opens the file, so a
zip bomb, or a zip that is not a Word document, is refused before anything is inflated.
Declared sizes can be trusted for this: `zipfile` never inflates a member past the size
its directory declares (it stops there and fails the CRC check instead).
"""

from __future__ import annotations

import re
import zipfile

import docx
from docx.document import Document
from docx.table import Table
from docx.text.paragraph import Paragraph

from jejakekal.domain.extraction import ExtractedBlock, Extraction, Limits, UnreadableDocument

_MIB = 1024 * 1024
_HEADING_STYLE = re.compile(r"Heading ([1-9])")
_MAIN_PART = "word/document.xml"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


def _check_zip(path: str, limits: Limits) -> None:
    """Refuse what is not a zip, not a Word document, or would unpack too large."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise UnreadableDocument(f"the DOCX file cannot be read: {_first_line(exc)}") from exc
    if _MAIN_PART not in {member.filename for member in members}:
        raise UnreadableDocument("the file is a zip archive but not a Word document")
    if sum(member.file_size for member in members) > limits.max_unpacked_bytes:
        raise UnreadableDocument(
            f"the DOCX file unpacks to more than {limits.max_unpacked_bytes // _MIB} MiB;"
            " refusing it (zip bomb?)"
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > _MIB and ratio > limits.max_compression_ratio:
            raise UnreadableDocument(
                f"the DOCX file holds a member compressed more than"
                f" {limits.max_compression_ratio} to 1; refusing it (zip bomb?)"
            )


def _lines(text: str) -> list[str]:
    """Non-empty lines, whitespace collapsed (tabs and runs of spaces become one space)."""
    collapsed = (" ".join(line.split()) for line in text.replace("\r", "\n").split("\n"))
    return [line for line in collapsed if line]


def _paragraph_block(paragraph: Paragraph, index: int) -> ExtractedBlock | None:
    lines = _lines(paragraph.text)
    if not lines:
        return None
    style = paragraph.style
    style_name = (style.name or "") if style is not None else ""
    locator: dict[str, object] = {"paragraph": index}
    heading = _HEADING_STYLE.fullmatch(style_name)
    if style_name == "Title" or heading:
        level = min(int(heading.group(1)), 6) if heading else 1
        return ExtractedBlock(kind="heading", text=" ".join(lines), locator=locator, level=level)
    ppr = paragraph._p.pPr
    numbered = ppr is not None and ppr.numPr is not None
    kind = "list_item" if style_name.startswith("List") or numbered else "paragraph"
    return ExtractedBlock(kind=kind, text="\n".join(lines), locator=locator)


def _table_block(table: Table, index: int) -> ExtractedBlock | None:
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            # A horizontally merged cell is the same object once per grid column it spans.
            if cell is previous:
                continue
            previous = cell
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            rows.append("\t".join(cells).rstrip("\t"))  # the docir's text trims them
    if not rows:
        return None
    return ExtractedBlock(kind="table", text="\n".join(rows), locator={"table": index})


def _body_blocks(document: Document, limits: Limits) -> list[ExtractedBlock]:
    blocks: list[ExtractedBlock] = []
    # Every body paragraph is counted, empty ones too, so that a locator's index is the
    # paragraph's position in python-docx's `document.paragraphs`.
    paragraphs = tables = 0
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            block = _paragraph_block(item, paragraphs)
            paragraphs += 1
        else:
            block = _table_block(item, tables)
            tables += 1
        if block is None:
            continue
        if len(blocks) >= limits.max_blocks:
            raise UnreadableDocument(
                f"the Word document has more than {limits.max_blocks} blocks; refusing it"
            )
        blocks.append(block)
    return blocks


class DocxParser:
    """One block per non-empty body paragraph (headings, list items) and per table."""

    name = "parser:docx"
    version = "1"
    format = "docx"

    def extract(self, path: str, limits: Limits, *, skip_pages: frozenset[int]) -> Extraction:
        del skip_pages  # a Word document has no pages to hand to OCR
        _check_zip(path, limits)
        try:
            blocks = _body_blocks(docx.Document(path), limits)
        except UnreadableDocument:
            raise
        except Exception as exc:
            # python-docx and lxml fail in many types (KeyError for a missing part,
            # XMLSyntaxError, ValueError for another Office format); all mean unreadable.
            raise UnreadableDocument(f"the DOCX file cannot be read: {_first_line(exc)}") from exc
        if not blocks:
            raise UnreadableDocument("the Word document has no text")
        return Extraction(blocks=blocks)
