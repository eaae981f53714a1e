"""PDF pages as PNG images, for the UI's page view: rendered on demand, cached on disk.

The cache is keyed by the document's sha256 (its blob) and the page, so a page is
rendered once however many runs ingested the same file. A render is written to a
temporary file and renamed into place: readers never see half an image.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import pypdfium2 as pdfium

from jejakekal.adapters.pdfium_lock import PDFIUM_LOCK

# About 1100 pixels across a Letter page: readable, and light enough to serve.
SCALE = 1.5


class PageOutOfRange(ValueError):
    """The document has no such page."""


def render_png(pdf: Path, page: int, *, scale: float = SCALE) -> bytes:
    with PDFIUM_LOCK:
        document = pdfium.PdfDocument(str(pdf))
        try:
            if not 1 <= page <= len(document):
                raise PageOutOfRange(f"the document has {len(document)} pages, not page {page}")
            pdf_page = document[page - 1]
            try:
                image = pdf_page.render(scale=scale).to_pil()
            finally:
                pdf_page.close()
        finally:
            document.close()
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def cached_png(pdf: Path, sha256: str, page: int, cache_dir: Path) -> bytes:
    """The page's PNG from the cache, rendering it on the first request."""
    cached = cache_dir / sha256[:2] / sha256 / f"{page}.png"
    if cached.is_file():
        return cached.read_bytes()
    data = render_png(pdf, page)
    cached.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=cached.parent, prefix=".render-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(name, cached)
    return data
