"""Document formats: what a declared type means, and what the bytes themselves say.

An upload declares its type three ways (the `format` field, the Content-Type, the file
name); the first bytes of the file say what it is. They must agree: a PDF declared as
text, or HTML declared as a PDF, is refused before anything is stored.
"""

from __future__ import annotations

from pathlib import PurePath

from jejakekal.domain.errors import FormatMismatch, UnsupportedMediaType

FORMATS = ("text", "markdown", "pdf", "html", "docx")
TEXT_FORMATS = ("text", "markdown")  # docir/1; the others are docir/2
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MEDIA_TYPES = {
    "text/plain": "text",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "application/pdf": "pdf",
    "text/html": "html",
    "application/xhtml+xml": "html",
    DOCX_TYPE: "docx",
}
# The type each format's raw artifact is stored under.
RAW_TYPES = {
    "text": "text/plain; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
    "pdf": "application/pdf",
    "html": "text/html",
    "docx": DOCX_TYPE,
}
EXTENSIONS = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
    ".docx": "docx",
}
# Types that say nothing about the format: the name or the bytes decide.
GENERIC_TYPES = ("application/octet-stream", "multipart/form-data", "")
SNIFF_BYTES = 4096  # how much of the start of a file `sniff` reads
_HTML_MARKS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<main", b"<article")


def media_type(content_type: str | None) -> str:
    """`text/html; charset=utf-8` -> `text/html`."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def format_of_type(content_type: str | None) -> str | None:
    """The format a Content-Type names; None for a generic type; 415 for any other."""
    kind = media_type(content_type)
    if kind in GENERIC_TYPES:
        return None
    if kind not in MEDIA_TYPES:
        known = ", ".join(sorted(MEDIA_TYPES))
        raise UnsupportedMediaType(
            f"a document must be one of {known}, not {kind[:64]!r}", content_type=kind[:64]
        )
    return MEDIA_TYPES[kind]


def format_of_name(filename: str | None) -> str | None:
    """The format a file name's extension names; None when it names none we know."""
    if not filename:
        return None
    return EXTENSIONS.get(PurePath(filename).suffix.lower())


def sniff(head: bytes) -> str:
    """What the first bytes are: `pdf`, `zip` (a DOCX is one), `html`, `text` or `binary`."""
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if b"\x00" in head:
        return "binary"
    try:
        # The head may end inside a multi-byte character: that is still text.
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:
            return "binary"
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if any(start.startswith(mark) for mark in _HTML_MARKS):
        return "html"
    return "text"


_SNIFFED_AS = {"pdf": "pdf", "zip": "docx", "html": "html", "text": "text"}
_COMPATIBLE = {
    "pdf": ("pdf",),
    "docx": ("zip",),
    "html": ("html", "text"),  # a fragment of HTML need not start with a tag we know
    "text": ("text", "html"),  # HTML declared as text is read as the text it is
    "markdown": ("text", "html"),
}


def resolve_format(
    head: bytes, *, declared: str | None, content_type: str | None, filename: str | None
) -> str:
    """The document's format: what it is declared as (the `format` field first, then
    the Content-Type, then the name), checked against its first bytes; undeclared, what
    the bytes say. A disagreement is a `FormatMismatch` naming both."""
    said = declared or format_of_type(content_type) or format_of_name(filename)
    seen = sniff(head)
    if said is None:
        if seen == "binary":
            raise FormatMismatch(
                "the file is neither text nor a PDF, HTML or Word document", detected=seen
            )
        return _SNIFFED_AS[seen]
    if seen not in _COMPATIBLE[said]:
        raise FormatMismatch(
            f"the file is declared {said} but its bytes are {_described(seen)}",
            declared=said,
            detected=seen,
        )
    return said


def _described(seen: str) -> str:
    return {
        "pdf": "a PDF",
        "zip": "a zip archive",
        "html": "HTML",
        "text": "plain text",
        "binary": "binary data",
    }[seen]
