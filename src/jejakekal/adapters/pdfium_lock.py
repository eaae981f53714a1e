"""The one lock around PDFium: it is not thread-safe, and the PDF parser, the OCR
renderer and the page view all call it, from any thread of the process."""

from __future__ import annotations

import threading

PDFIUM_LOCK = threading.Lock()
