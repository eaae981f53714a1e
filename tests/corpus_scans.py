"""Image-only ("scanned") PDFs built from known text, for the OCR adapter's tests.

Each page is text drawn with Pillow onto a white Letter-sized image at 200 dpi, saved as
a PDF by Pillow: the file has no text layer, so only OCR can read it back. Every builder
returns the text it drew, one list of lines per page, so a test can measure accuracy.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

DPI = 200
PAGE_PX = (1700, 2200)  # Letter (8.5 x 11 inches) at 200 dpi
MARGIN_PX = 150

HEADING = "Quarterly Report on River Water Quality"
PARAGRAPHS = [
    [
        "The survey measured dissolved oxygen at twelve stations along the river.",
        "Readings were taken every morning before sunrise during the dry season.",
        "Most stations stayed within the limits that the regional agency has set.",
    ],
    [
        "Two stations below the old paper mill showed lower oxygen than expected.",
        "The team recommends monthly sampling there and a review of the discharge permit.",
    ],
]

# Distinct subjects so a page's words identify the page.
MULTI_PAGE_TOPICS = [
    "Apples ripen in autumn and are stored in cool cellars through winter.",
    "Bridges carry heavy traffic across the harbour every single weekday.",
    "Copper wiring conducts electricity with very little resistance indeed.",
    "Desert plants keep water in thick leaves to survive long droughts.",
    "Engines burn fuel to turn pistons that drive the wheels forward.",
    "Forests shelter birds, insects and mammals in many layered habitats.",
]


def _font(size: int) -> ImageFont.FreeTypeFont:
    """Vera, which reportlab ships; a missing font must fail, never fall back silently."""
    spec = importlib.util.find_spec("reportlab")  # found, not imported: it ships no types
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("reportlab, which ships the test font, is not installed")
    path = Path(spec.origin).parent / "fonts" / "Vera.ttf"
    if not path.is_file():
        raise FileNotFoundError(f"the test font is missing: reportlab should ship {path}")
    return ImageFont.truetype(str(path), size)


def _blank_page() -> Image.Image:
    return Image.new("L", PAGE_PX, color=255)


def _draw_lines(page: Image.Image, lines: list[str], top: int, size: int, *, fill: int = 0) -> int:
    """Draw `lines` from `top` down; returns the y just below the last line."""
    draw = ImageDraw.Draw(page)
    font = _font(size)
    y = top
    for line in lines:
        draw.text((MARGIN_PX, y), line, font=font, fill=fill)
        y += int(size * 1.5)
    return y


def _save_pdf(pages: list[Image.Image], path: Path) -> Path:
    first, *rest = pages
    first.save(path, "PDF", resolution=float(DPI), save_all=True, append_images=rest)
    return path


def clean_page(path: Path) -> list[list[str]]:
    """One page: a large heading line, then two paragraphs of plain sentences."""
    page = _blank_page()
    y = _draw_lines(page, [HEADING], MARGIN_PX, 48)
    for paragraph in PARAGRAPHS:
        # A gap of two line heights makes Tesseract see a new paragraph.
        y = _draw_lines(page, paragraph, y + 60, 30)
    _save_pdf([page], path)
    return [[HEADING, *(line for paragraph in PARAGRAPHS for line in paragraph)]]


def multi_page(path: Path) -> list[list[str]]:
    """Six pages, each with a heading naming its number and one distinct sentence."""
    pages: list[Image.Image] = []
    expected: list[list[str]] = []
    for number, sentence in enumerate(MULTI_PAGE_TOPICS, start=1):
        lines = [f"Page {number}", sentence]
        page = _blank_page()
        _draw_lines(page, lines, MARGIN_PX, 32)
        pages.append(page)
        expected.append(lines)
    _save_pdf(pages, path)
    return expected


def low_quality_page(path: Path) -> list[list[str]]:
    """The clean page's paragraphs, small, light grey, blurred and speckled: a poor scan."""
    page = _blank_page()
    lines = [line for paragraph in PARAGRAPHS for line in paragraph]
    _draw_lines(page, lines, MARGIN_PX, 14, fill=150)
    page = page.filter(ImageFilter.GaussianBlur(radius=1.6))
    _save_pdf([page], path)
    return [lines]
