"""What a parser of a binary format (PDF, HTML, DOCX) hands the domain: blocks with locators.

Text and Markdown parsers find spans over a text they are given (`ports.BlockSpan`). The
other formats have no canonical text until one is made: their parsers return each block's
own text and where it sits in the source (`Extraction`), and `domain.docir2` joins the
blocks into the docir/2 text, one blank line between blocks, deriving every offset.

Locators, by format (all JSON):
- PDF:  `{"page": 1, "bbox": [x0, y0, x1, y1]}`, 1-based page, PDF points, origin at
  the page's top-left corner, y growing down, rounded to 0.01.
- HTML: `{"path": "body/main/p[2]"}`, element names from `body` down, `[n]` the
  1-based position among same-named siblings where there are several.
- DOCX: `{"paragraph": 3}` (0-based index among the body's paragraphs) or `{"table": 0}`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, TypedDict

from jejakekal.domain.jsontypes import JsonObject

# A page whose text layer holds fewer non-space characters than this has no usable text.
MIN_TEXT_LAYER_CHARS = 16


class UnreadableDocument(Exception):
    """The bytes cannot be read as their format (corrupt, encrypted, empty, over a limit).

    The message is shown to the operator as the run's error: one readable sentence.
    """


@dataclass(frozen=True)
class Limits:
    """What a parser refuses to read past (each refusal an `UnreadableDocument`)."""

    max_pages: int = 2000
    max_unpacked_bytes: int = 256 * 1024 * 1024  # a DOCX's zip, all members together
    max_compression_ratio: int = 200  # per zip member: a zip bomb's telltale
    max_blocks: int = 200_000


@dataclass(frozen=True)
class ExtractedBlock:
    kind: str  # one of domain.documents.BLOCK_KINDS
    text: str  # no "\r", no blank first or last line; never empty
    locator: JsonObject
    level: int | None = None  # 1-6 for headings, else None
    confidence: float = 1.0  # in [0, 1]; OCR word confidences average into it


@dataclass(frozen=True)
class PageInfo:
    """A PDF page: its size in points and how much text its text layer holds."""

    page: int  # 1-based
    width: float
    height: float
    chars: int  # non-space characters in the text layer

    @property
    def has_text(self) -> bool:
        return self.chars >= MIN_TEXT_LAYER_CHARS


@dataclass(frozen=True)
class Extraction:
    blocks: list[ExtractedBlock]
    pages: list[PageInfo] = field(default_factory=list)  # PDFs only


class OcrBlock(TypedDict):
    """One paragraph Tesseract found: its words joined (lines by "\\n"), where, how sure."""

    text: str
    bbox: list[float]  # PDF points, top-left origin, as in a PDF locator
    confidence: float  # the mean of its words' confidences, in [0, 1]
    words: int


class OcrPage(TypedDict):
    """The recognised text of one page: a DBOS checkpoint, so plain JSON."""

    page: int
    width: float
    height: float
    blocks: list[OcrBlock]


class FormatParser(Protocol):
    """Reads one binary format from a file; the domain builds and checks the docir."""

    name: str  # the producer recorded in the docir, e.g. "parser:pdf"
    version: str
    format: str  # "pdf" | "html" | "docx"

    def extract(self, path: str, limits: Limits, *, skip_pages: frozenset[int]) -> Extraction:
        """The document's blocks in reading order; pages in `skip_pages` give no blocks
        (their text comes from OCR) but still appear in `pages`."""
        ...
