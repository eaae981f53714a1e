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
from collections.abc import Mapping
from dataclasses import dataclass

from jejakekal.domain.artifact_bodies import (
    ArtifactHeader,
    ArtifactInput,
    Block,
    Chunk,
    ChunkerParams,
    ChunkIndex,
    DocIR,
    DocirParams,
    Params,
)
from jejakekal.domain.canonical import canonical_json
from jejakekal.domain.ports import BlockSpan, DocumentParser

DOCIR_SCHEMA = "docir/1"
CHUNK_INDEX_SCHEMA = "chunk-index/1"
MEMO_SCHEMA = "memo/1"
# The versions built from a docir/2 (domain.docir2): their chunks and citations carry pages.
CHUNK_INDEX2_SCHEMA = "chunk-index/2"
MEMO2_SCHEMA = "memo/2"
LOW_MARK = "[low]"  # a source line carrying it gets low confidence
LOW_CONFIDENCE = 0.3
OCR_THRESHOLD = 0.5  # any block under it sets ocr_required
PRODUCER_STEP = "side-effect"
NEWLINE = "\n"
OFFSETS = "code points into text"
BLOCK_KINDS = frozenset(
    {"heading", "paragraph", "list_item", "quote", "code", "table", "html", "hr"}
)
CHUNKER_NAME = "block-pack"
CHUNKER_VERSION = "1"

# Markdown container markers at the start of a block's first line: `>`, `-`, `+`, `*`, `1.`, `1)`.
_CONTAINER_PREFIX = re.compile(r"(?:[ \t]*(?:>|[-+*](?=[ \t])|\d{1,9}[.)](?=[ \t])))*[ \t]*")
_ATX_OPEN = re.compile(r"#{1,6}(?=[ \t]|$)")
_ATX_CLOSE = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")


class DocumentInvariantError(ValueError):
    """A document artifact breaks an invariant its schema promises."""


def canonical_text(source: str) -> str:
    """CRLF and lone CR become "\\n"; nothing else is changed."""
    return source.replace("\r\n", "\n").replace("\r", "\n")


def canonical_bytes(body: Mapping[str, object]) -> bytes:
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
    params: Params,
    inputs: list[ArtifactInput],
) -> ArtifactHeader[Params]:
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


def build_docir(source: str, parser: DocumentParser, *, run_id: str, raw_sha256: str) -> DocIR:
    """The docir body of `source`, checked by `check_docir` before it is returned."""
    text = canonical_text(source)
    digest = text_sha256(text)
    blocks = _blocks(text, digest, parser.blocks(text))
    low_ids = _low_confidence_ids(blocks)
    params: DocirParams = {
        "format": parser.format,
        "low_mark": LOW_MARK,
        "low_confidence": LOW_CONFIDENCE,
        "ocr_threshold": OCR_THRESHOLD,
    }
    # mypy asks for the docir/2-only `pages` in a ** item; docir/1 has none.
    docir: DocIR = {
        **artifact_header(  # type: ignore[typeddict-item]
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


def _blocks(text: str, digest: str, spans: list[BlockSpan]) -> list[Block]:
    """The parser's spans as blocks, each with its lines and its confidence.

    Blocks are flat leaves (containers such as lists are not blocks), so `parent_id`
    is always null in docir/1.
    """
    starts = _line_starts(text)
    lines = text.split("\n")
    blocks: list[Block] = []
    for order, span in enumerate(spans):
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
    return blocks


def _low_confidence_ids(blocks: list[Block]) -> list[str]:
    return [b["block_id"] for b in blocks if b["confidence"] < OCR_THRESHOLD]


def require(ok: bool, message: str) -> None:
    """`DocumentInvariantError(message)` unless `ok`."""
    if not ok:
        raise DocumentInvariantError(message)


def is_docir2(docir: DocIR) -> bool:
    return docir.get("schema") == "docir/2"


def check_block_fields(block: Block, order: int, doc_text_sha256: str) -> None:
    """What every docir version holds of a block (its span already checked): its order,
    kind, derived id, level (headings only) and confidence."""
    where = f"block {order}"
    start, end, kind = block["start"], block["end"], block.get("kind")
    require(block.get("order") == order, f"{where}: order is not {order}")
    require(kind in BLOCK_KINDS, f"{where}: unknown kind {kind!r}")
    expected_id = block_id(doc_text_sha256, str(kind), start, end)
    require(block.get("block_id") == expected_id, f"{where}: block_id is not derived")
    level = block.get("level")
    if kind == "heading":
        require(type(level) is int and 1 <= level <= 6, f"{where}: bad heading level")
    else:
        require(level is None, f"{where}: only headings have a level")
    confidence = block.get("confidence")
    require(
        type(confidence) in (int, float) and 0 <= confidence <= 1,
        f"{where}: confidence is not in [0, 1]",
    )


def check_docir(docir: DocIR) -> None:
    """Raise `DocumentInvariantError` unless every invariant of the docir's version holds."""
    if is_docir2(docir):
        # docir2 builds on this module, so it is imported where it is needed.
        from jejakekal.domain.docir2 import check_docir2

        check_docir2(docir)
        return
    require(docir.get("schema") == DOCIR_SCHEMA, f"schema is not {DOCIR_SCHEMA!r}")
    text = docir.get("text")
    require(isinstance(text, str), "text is not a string")
    assert isinstance(text, str)
    require("\r" not in text, "text is not canonical: it holds a carriage return")
    require(docir.get("text_sha256") == text_sha256(text), "text_sha256 does not match text")
    require(docir.get("newline") == NEWLINE, "newline statement is missing")
    require(docir.get("offsets") == OFFSETS, "offsets statement is missing")
    blocks = docir.get("blocks")
    require(isinstance(blocks, list), "blocks is not a list")
    assert isinstance(blocks, list)
    starts = _line_starts(text)
    seen: set[str] = set()
    previous_end = 0
    for order, block in enumerate(blocks):
        where = f"block {order}"
        start, end = block.get("start"), block.get("end")
        require(is_span(start, end, len(text)), f"{where}: span is empty or out of bounds")
        require(start >= previous_end, f"{where}: overlaps or precedes the block before")
        require(not text[start:end].endswith("\n"), f"{where}: text ends in a newline")
        check_block_fields(block, order, docir["text_sha256"])
        expected_id = block["block_id"]
        parent = block.get("parent_id")
        require(parent is None or parent in seen, f"{where}: parent is not an earlier block")
        lines = _lines_of(starts, start, end)
        require(block.get("locator") == {"lines": lines}, f"{where}: locator is not {lines}")
        seen.add(expected_id)
        previous_end = end
    low_ids = _low_confidence_ids(blocks)
    require(docir.get("low_confidence_blocks") == low_ids, "low_confidence_blocks is wrong")
    require(docir.get("ocr_required") is bool(low_ids), "ocr_required is wrong")


def heading_title(block_text: str, *, markdown: bool = True) -> str:
    """A heading's text: its first line, for Markdown without container, `#` or setext marks."""
    line = block_text.split("\n", 1)[0]
    if not markdown:
        return line.strip()
    line = _CONTAINER_PREFIX.sub("", line, count=1)
    if opening := _ATX_OPEN.match(line):
        line = _ATX_CLOSE.sub("", line[opening.end() :])
    return line.strip()


def content_start(docir: DocIR, block: Block) -> int:
    """Where a block's own words begin: after Markdown list and quote markers."""
    start = block["start"]
    if docir["format"] != "markdown" or block["kind"] not in ("list_item", "quote"):
        return start
    match = _CONTAINER_PREFIX.match(docir["text"], start, block["end"])
    return match.end() if match else start


def chunk_text(docir: DocIR, span: Block | Chunk) -> str:
    """The docir text a chunk (or a block) covers."""
    return docir["text"][span["start"] : span["end"]]


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


def _heading_paths(docir: DocIR) -> dict[str, list[str]]:
    """Per block, the titles of the headings it sits under (a heading is under itself)."""
    paths: dict[str, list[str]] = {}
    stack: list[tuple[int, str]] = []
    markdown = docir["format"] in ("markdown", "text")
    for block in docir["blocks"]:
        level = block["level"]  # an int for every heading (check_docir holds it)
        if block["kind"] == "heading" and level is not None:
            stack = [(lv, title) for lv, title in stack if lv < level]
            stack.append((level, heading_title(chunk_text(docir, block), markdown=markdown)))
        paths[block["block_id"]] = [title for _, title in stack]
    return paths


@dataclass(frozen=True)
class _Pack:
    """Consecutive blocks (or one piece of a long block) that become one chunk."""

    start: int
    end: int
    members: list[Block]


def _packs(text: str, blocks: list[Block], max_chars: int) -> list[_Pack]:
    """Blocks packed in order; a block longer than `max_chars` is split into pieces."""
    packs: list[_Pack] = []
    current: list[Block] = []
    for block in blocks:
        long = block["end"] - block["start"] > max_chars
        if current and (long or block["end"] - current[0]["start"] > max_chars):
            packs.append(_Pack(current[0]["start"], current[-1]["end"], current))
            current = []
        if long:
            pieces = _split_long(text, block["start"], block["end"], max_chars)
            packs.extend(_Pack(start, end, [block]) for start, end in pieces)
        else:
            current.append(block)
    if current:
        packs.append(_Pack(current[0]["start"], current[-1]["end"], current))
    return packs


def _chunks(docir: DocIR, packs: list[_Pack]) -> list[Chunk]:
    """One chunk per pack, linked to its neighbours, under its first block's headings."""
    text, digest = docir["text"], docir["text_sha256"]
    paths = _heading_paths(docir)
    ids = [chunk_id(digest, pack.start, pack.end) for pack in packs]
    chunks: list[Chunk] = [
        {
            "chunk_id": ids[ord_],
            "ord": ord_,
            "start": pack.start,
            "end": pack.end,
            "text_sha256": text_sha256(text[pack.start : pack.end]),
            "block_ids": [b["block_id"] for b in pack.members],
            "heading_path": paths[pack.members[0]["block_id"]],
            "prev_id": ids[ord_ - 1] if ord_ > 0 else None,
            "next_id": ids[ord_ + 1] if ord_ + 1 < len(ids) else None,
            "confidence": min(b["confidence"] for b in pack.members),
        }
        for ord_, pack in enumerate(packs)
    ]
    if is_docir2(docir):
        for chunk, pack in zip(chunks, packs, strict=True):
            pages = {b["locator"].get("page") for b in pack.members}
            chunk["pages"] = sorted(p for p in pages if isinstance(p, int))
    return chunks


def build_chunk_index(
    docir: DocIR, *, run_id: str, docir_sha256: str, max_chars: int = 800
) -> ChunkIndex:
    """Packs of consecutive blocks of at most `max_chars` code points, spans included.

    A chunk runs from its first block's start to its last block's end, so the text
    between those blocks (blank lines) belongs to it. A block longer than `max_chars`
    is split into contiguous pieces that are chunks of their own.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    check_docir(docir)
    packs = _packs(docir["text"], docir["blocks"], max_chars)
    params: ChunkerParams = {"max_chars": max_chars, "overlap": 0, "boundary": "block"}
    return {
        **artifact_header(
            CHUNK_INDEX2_SCHEMA if is_docir2(docir) else CHUNK_INDEX_SCHEMA,
            run_id=run_id,
            producer="chunker",
            version="1",
            params=params,
            inputs=[{"type": "docir", "sha256": docir_sha256}],
        ),
        "chunker": {"name": CHUNKER_NAME, "version": CHUNKER_VERSION, "params": params},
        "text_sha256": docir["text_sha256"],
        "chunks": _chunks(docir, packs),
    }
