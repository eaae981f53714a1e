"""Optical character recognition of PDF pages: pypdfium2 renders, Tesseract reads.

`recognise` returns one `OcrPage` per requested page, its paragraphs as `OcrBlock`s with
boxes in PDF points (top-left origin, as PDF locators use), so the result is plain JSON a
workflow step can checkpoint. Tesseract runs as a subprocess through pytesseract.

The adapter sets `OMP_THREAD_LIMIT=1` in the process environment when it is unset:
Tesseract's OpenMP threads contend instead of helping (a dense 200 dpi page took 16 s
instead of 1.7 s on 2 cores), and any parallelism belongs to callers, one page each.
"""

from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass, field

import pypdfium2 as pdfium
import pytesseract
from PIL import Image

from jejakekal.adapters.pdfium_lock import PDFIUM_LOCK
from jejakekal.domain.extraction import OcrBlock, OcrPage, UnreadableDocument

POINTS_PER_INCH = 72
PAGE_TIMEOUT_SECONDS = 300  # a page Tesseract cannot finish by then is a hung process
# Page segmentation 3 (automatic, no orientation detection) with the LSTM engine only, so
# the result does not depend on whether the legacy model happens to be installed.
_BASE_CONFIG = "--oem 1 --psm 3"
_NOT_INSTALLED = "Tesseract is not installed, so scanned pages cannot be read."


class OcrUnavailable(Exception):
    """Tesseract is not installed, lacks the language, failed or timed out on a page."""


def engine_name() -> str | None:
    """The OCR engine as runs and `/healthz` name it ("tesseract 5.3.0"), None if absent."""
    version = tesseract_version()
    return f"tesseract {version}" if version else None


@functools.cache
def tesseract_version() -> str | None:
    """The installed Tesseract's version ("5.3.0"), None without a working binary.

    Cached for the process; tests clear it with `tesseract_version.cache_clear()`.
    """
    try:
        done = subprocess.run(
            [pytesseract.pytesseract.tesseract_cmd, "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    # The first line reads "tesseract 5.3.0" (some builds add a "-suffix").
    first_line = (done.stdout or done.stderr).strip().partition("\n")[0]
    _name, _, version = first_line.partition(" ")
    return version.strip().partition("-")[0] or None


@dataclass
class _Paragraph:
    lines: dict[int, list[str]] = field(default_factory=dict)
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)


def _blocks(data: dict[str, list[object]], scale: float) -> list[OcrBlock]:
    """Tesseract's word rows grouped into paragraphs, in the order it reported them."""
    paragraphs: dict[tuple[int, int], _Paragraph] = {}
    for i, raw_text in enumerate(data["text"]):
        word = str(raw_text).strip()
        conf = float(str(data["conf"][i]))
        if not word or conf < 0:  # -1 marks rows for pages, blocks, lines: not words
            continue
        key = (int(str(data["block_num"][i])), int(str(data["par_num"][i])))
        paragraph = paragraphs.setdefault(key, _Paragraph())
        paragraph.lines.setdefault(int(str(data["line_num"][i])), []).append(word)
        left, top = int(str(data["left"][i])), int(str(data["top"][i]))
        width, height = int(str(data["width"][i])), int(str(data["height"][i]))
        paragraph.boxes.append((left, top, left + width, top + height))
        paragraph.confidences.append(conf / 100)
    return [_block(paragraph, scale) for paragraph in paragraphs.values()]


def _block(paragraph: _Paragraph, scale: float) -> OcrBlock:
    boxes = paragraph.boxes
    pixels = (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
    mean = sum(paragraph.confidences) / len(paragraph.confidences)
    return OcrBlock(
        text="\n".join(" ".join(words) for words in paragraph.lines.values()),
        bbox=[round(p / scale, 2) for p in pixels],
        confidence=round(min(max(mean, 0.0), 1.0), 4),
        words=len(boxes),
    )


def _read_image(image: Image.Image, *, dpi: int, lang: str) -> dict[str, list[object]]:
    try:
        data: dict[str, list[object]] = pytesseract.image_to_data(
            image,
            lang=lang,
            config=f"{_BASE_CONFIG} --dpi {dpi}",
            output_type=pytesseract.Output.DICT,
            timeout=PAGE_TIMEOUT_SECONDS,
        )
    except pytesseract.TesseractNotFoundError as exc:
        raise OcrUnavailable(_NOT_INSTALLED) from exc
    except pytesseract.TesseractError as exc:
        raise OcrUnavailable(f"Tesseract failed on a page: {exc.message}".strip()) from exc
    except RuntimeError as exc:  # pytesseract's timeout
        raise OcrUnavailable(f"Tesseract took over {PAGE_TIMEOUT_SECONDS}s on a page.") from exc
    return data if data else {"text": []}


def recognise(path: str, pages: list[int], *, dpi: int = 200, lang: str = "eng") -> list[OcrPage]:
    """Recognise the listed 1-based pages of the PDF at `path`, in the order listed."""
    if tesseract_version() is None:
        raise OcrUnavailable(_NOT_INSTALLED)
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    scale = dpi / POINTS_PER_INCH
    with PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(path)
        except pdfium.PdfiumError as exc:
            raise UnreadableDocument("The PDF could not be opened for OCR.") from exc
    try:
        with PDFIUM_LOCK:
            count = len(pdf)
        results: list[OcrPage] = []
        for number in pages:
            if not 1 <= number <= count:
                raise ValueError(f"page {number} is outside the document's 1-{count}")
            with PDFIUM_LOCK:
                page = pdf[number - 1]
                try:
                    width, height = page.get_size()
                    # copy(): the rendered image must not share pdfium's buffer after unlock.
                    image = page.render(scale=scale, grayscale=True).to_pil().copy()
                finally:
                    page.close()
            data = _read_image(image, dpi=dpi, lang=lang)
            results.append(
                OcrPage(
                    page=number,
                    width=round(float(width), 2),
                    height=round(float(height), 2),
                    blocks=_blocks(data, scale),
                )
            )
        return results
    finally:
        with PDFIUM_LOCK:
            pdf.close()
