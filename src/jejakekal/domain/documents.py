"""Document artifacts as pure data: the docir and chunk-index bodies and their invariants.

Every body is JSON with a schema tag, the run id, its producer, a digest of its
parameters and the hashes of its inputs; no wall-clock time, so the same input gives
byte-identical `canonical_bytes` on every run and machine. Offsets everywhere are
code-point indices (Python `str` indices) into the docir's canonical text.
The memo (claims citing this text) lives in `domain.memo`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from bisect import bisect_right
from typing import Any

from jejakekal.domain.canonical import canonical_json
from jejakekal.domain.ports import DocumentParser

DOCIR_SCHEMA = "docir/1"
CHUNK_INDEX_SCHEMA = "chunk-index/1"
MEMO_SCHEMA = "memo/1"
LOW_MARK = "[low]"  # a source line carrying it gets low confidence
LOW_CONFIDENCE = 0.3
OCR_THRESHOLD = 0.5  # any block under it sets ocr_required
PRODUCER_STEP = "side-effect"
NEWLINE = "\n"
OFFSETS = "code points into text"
BLOCK_KINDS = frozenset(
    {"heading", "paragraph", "list_item", "quote", "code", "table", "html", "hr"}
)
CHUNKER = {"name": "block-pack", "version": "1"}

# Markdown container markers at the start of a block's first line: `>`, `-`, `+`, `*`, `1.`, `1)`.
_CONTAINER_PREFIX = re.compile(r"(?:[ \t]*(?:>|[-+*](?=[ \t])|\d{1,9}[.)](?=[ \t])))*[ \t]*")
_ATX_OPEN = re.compile(r"#{1,6}(?=[ \t]|$)")
_ATX_CLOSE = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")


class DocumentInvariantError(ValueError):
    """A document artifact breaks an invariant its schema promises."""


def canonical_text(source: str) -> str:
    """CRLF and lone CR become "\\n"; nothing else is changed."""
    return source.replace("\r\n", "\n").replace("\r", "\n")


def canonical_bytes(body: dict[str, Any]) -> bytes:
    """An artifact's bytes: its canonical JSON (`domain.canonical`), in UTF-8."""
    return canonical_json(body).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def text_sha256(text: str) -> str:
    return sha256_hex(text.encode("utf-8"))


def _short_digest(*parts: str | int) -> str:
    return text_sha256(":".join(str(part) for part in parts))[:16]


def block_id(doc_text_sha256: str, kind: str, start: int, end: int) -> str:
    return "b-" + _short_digest(doc_text_sha256, kind, start, end)


def chunk_id(doc_text_sha256: str, start: int, end: int) -> str:
    return "c-" + _short_digest(doc_text_sha256, start, end)


def artifact_header(
    schema: str,
    *,
    run_id: str,
    producer: str,
    version: str,
    params: dict[str, Any],
    inputs: list[dict[str, str]],
) -> dict[str, Any]:
    """The fields every artifact body starts with."""
    return {
        "schema": schema,
        "run_id": run_id,
        "producer": {"step": PRODUCER_STEP, "name": producer, "version": version},
        "params": params,
        "params_sha256": sha256_hex(canonical_bytes(params)),
        "inputs": inputs,
    }


def _line_starts(text: str) -> list[int]:
    return [0, *(i + 1 for i, ch in enumerate(text) if ch == "\n")]


def _lines_of(starts: list[int], start: int, end: int) -> list[int]:
    """1-based first and last line of a non-empty span."""
    last_char = max(start, end - 1)
    return [bisect_right(starts, start), bisect_right(starts, last_char)]


def is_span(start: object, end: object, limit: int) -> bool:
    """Integer offsets with `0 <= start < end <= limit`."""
    # bool is an int subclass; an offset of `true` is still malformed.
    if type(start) is not int or type(end) is not int:
        return False
    return 0 <= start < end <= limit


def build_docir(
    source: str, parser: DocumentParser, *, run_id: str, raw_sha256: str
) -> dict[str, Any]:
    """The docir body of `source`, checked by `check_docir` before it is returned.

    Blocks are flat leaves (containers such as lists are not blocks), so `parent_id`
    is always null in docir/1.
    """
    text = canonical_text(source)
    digest = text_sha256(text)
    starts = _line_starts(text)
    lines = text.split("\n")
    blocks: list[dict[str, Any]] = []
    for order, span in enumerate(parser.blocks(text)):
        first, last = _lines_of(starts, span.start, span.end)
        low = any(LOW_MARK in line for line in lines[first - 1 : last])
        blocks.append(
            {
                "block_id": block_id(digest, span.kind, span.start, span.end),
                "kind": span.kind,
                "level": span.level,
                "start": span.start,
                "end": span.end,
                "parent_id": None,
                "order": order,
                "confidence": LOW_CONFIDENCE if low else 1.0,
                "locator": {"lines": [first, last]},
            }
        )
    low_ids = [b["block_id"] for b in blocks if b["confidence"] < OCR_THRESHOLD]
    params = {
        "format": parser.format,
        "low_mark": LOW_MARK,
        "low_confidence": LOW_CONFIDENCE,
        "ocr_threshold": OCR_THRESHOLD,
    }
    docir = {
        **artifact_header(
            DOCIR_SCHEMA,
            run_id=run_id,
            producer=parser.name,
            version=parser.version,
            params=params,
            inputs=[{"type": "raw", "sha256": raw_sha256}],
        ),
        "format": parser.format,
        "text": text,
        "text_sha256": digest,
        "newline": NEWLINE,
        "offsets": OFFSETS,
        "blocks": blocks,
        "ocr_required": bool(low_ids),
        "low_confidence_blocks": low_ids,
    }
    check_docir(docir)
    return docir


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise DocumentInvariantError(message)


def check_docir(docir: dict[str, Any]) -> None:
    """Raise `DocumentInvariantError` unless every docir/1 invariant holds."""
    _require(docir.get("schema") == DOCIR_SCHEMA, f"schema is not {DOCIR_SCHEMA!r}")
    text = docir.get("text")
    _require(isinstance(text, str), "text is not a string")
    assert isinstance(text, str)
    _require("\r" not in text, "text is not canonical: it holds a carriage return")
    _require(docir.get("text_sha256") == text_sha256(text), "text_sha256 does not match text")
    _require(docir.get("newline") == NEWLINE, "newline statement is missing")
    _require(docir.get("offsets") == OFFSETS, "offsets statement is missing")
    blocks = docir.get("blocks")
    _require(isinstance(blocks, list), "blocks is not a list")
    assert isinstance(blocks, list)
    starts = _line_starts(text)
    seen: set[str] = set()
    previous_end = 0
    for order, block in enumerate(blocks):
        where = f"block {order}"
        start, end, kind = block.get("start"), block.get("end"), block.get("kind")
        _require(is_span(start, end, len(text)), f"{where}: span is empty or out of bounds")
        _require(start >= previous_end, f"{where}: overlaps or precedes the block before")
        _require(not text[start:end].endswith("\n"), f"{where}: text ends in a newline")
        _require(block.get("order") == order, f"{where}: order is not {order}")
        _require(kind in BLOCK_KINDS, f"{where}: unknown kind {kind!r}")
        expected_id = block_id(docir["text_sha256"], kind, start, end)
        _require(block.get("block_id") == expected_id, f"{where}: block_id is not derived")
        level = block.get("level")
        if kind == "heading":
            _require(type(level) is int and 1 <= level <= 6, f"{where}: bad heading level")
        else:
            _require(level is None, f"{where}: only headings have a level")
        parent = block.get("parent_id")
        _require(parent is None or parent in seen, f"{where}: parent is not an earlier block")
        confidence = block.get("confidence")
        _require(
            type(confidence) in (int, float) and 0 <= confidence <= 1,
            f"{where}: confidence is not in [0, 1]",
        )
        lines = _lines_of(starts, start, end)
        _require(block.get("locator") == {"lines": lines}, f"{where}: locator is not {lines}")
        seen.add(expected_id)
        previous_end = end
    low_ids = [b["block_id"] for b in blocks if b["confidence"] < OCR_THRESHOLD]
    _require(docir.get("low_confidence_blocks") == low_ids, "low_confidence_blocks is wrong")
    _require(docir.get("ocr_required") is bool(low_ids), "ocr_required is wrong")


def heading_title(block_text: str) -> str:
    """A Markdown heading's text: its first line without container, `#` or setext marks."""
    line = block_text.split("\n", 1)[0]
    line = _CONTAINER_PREFIX.sub("", line, count=1)
    if opening := _ATX_OPEN.match(line):
        line = _ATX_CLOSE.sub("", line[opening.end() :])
    return line.strip()


def content_start(docir: dict[str, Any], block: dict[str, Any]) -> int:
    """Where a block's own words begin: after Markdown list and quote markers."""
    start: int = block["start"]
    if docir["format"] != "markdown" or block["kind"] not in ("list_item", "quote"):
        return start
    match = _CONTAINER_PREFIX.match(docir["text"], start, block["end"])
    return match.end() if match else start


def chunk_text(docir: dict[str, Any], chunk: dict[str, Any]) -> str:
    text: str = docir["text"]
    return text[chunk["start"] : chunk["end"]]


def _split_long(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Contiguous pieces of at most `max_chars`, cut after whitespace near the limit.

    Without whitespace in the last half of the window the cut falls at the limit, moved
    back so a combining mark stays with its base character.
    """
    pieces: list[tuple[int, int]] = []
    pos = start
    while end - pos > max_chars:
        limit = pos + max_chars
        cut = next(
            (i for i in range(limit, pos + max_chars // 2, -1) if text[i - 1].isspace()),
            limit,
        )
        if cut == limit:
            while cut - 1 > pos and unicodedata.combining(text[cut]):
                cut -= 1
        pieces.append((pos, cut))
        pos = cut
    pieces.append((pos, end))
    return pieces


def _heading_paths(docir: dict[str, Any]) -> dict[str, list[str]]:
    """Per block, the titles of the headings it sits under (a heading is under itself)."""
    paths: dict[str, list[str]] = {}
    stack: list[tuple[int, str]] = []
    for block in docir["blocks"]:
        if block["kind"] == "heading":
            level = block["level"]
            stack = [(lv, title) for lv, title in stack if lv < level]
            stack.append((level, heading_title(chunk_text(docir, block))))
        paths[block["block_id"]] = [title for _, title in stack]
    return paths


def build_chunk_index(
    docir: dict[str, Any], *, run_id: str, docir_sha256: str, max_chars: int = 800
) -> dict[str, Any]:
    """Packs of consecutive blocks of at most `max_chars` code points, spans included.

    A chunk runs from its first block's start to its last block's end, so the text
    between those blocks (blank lines) belongs to it. A block longer than `max_chars`
    is split into contiguous pieces that are chunks of their own.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    check_docir(docir)
    text: str = docir["text"]
    packs: list[tuple[int, int, list[dict[str, Any]]]] = []
    current: list[dict[str, Any]] = []

    def flush() -> None:
        if current:
            packs.append((current[0]["start"], current[-1]["end"], list(current)))
            current.clear()

    for block in docir["blocks"]:
        if block["end"] - block["start"] > max_chars:
            flush()
            pieces = _split_long(text, block["start"], block["end"], max_chars)
            packs.extend((start, end, [block]) for start, end in pieces)
            continue
        if current and block["end"] - current[0]["start"] > max_chars:
            flush()
        current.append(block)
    flush()

    digest: str = docir["text_sha256"]
    paths = _heading_paths(docir)
    ids = [chunk_id(digest, start, end) for start, end, _ in packs]
    chunks = [
        {
            "chunk_id": ids[ord_],
            "ord": ord_,
            "start": start,
            "end": end,
            "text_sha256": text_sha256(text[start:end]),
            "block_ids": [b["block_id"] for b in members],
            "heading_path": paths[members[0]["block_id"]],
            "prev_id": ids[ord_ - 1] if ord_ > 0 else None,
            "next_id": ids[ord_ + 1] if ord_ + 1 < len(ids) else None,
            "confidence": min(b["confidence"] for b in members),
        }
        for ord_, (start, end, members) in enumerate(packs)
    ]
    params = {"max_chars": max_chars, "overlap": 0, "boundary": "block"}
    return {
        **artifact_header(
            CHUNK_INDEX_SCHEMA,
            run_id=run_id,
            producer="chunker",
            version="1",
            params=params,
            inputs=[{"type": "docir", "sha256": docir_sha256}],
        ),
        "chunker": {**CHUNKER, "params": params},
        "text_sha256": digest,
        "chunks": chunks,
    }
