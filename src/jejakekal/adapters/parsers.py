"""Document parsers behind the `DocumentParser` port: plain text and Markdown.

A parser only finds block spans over the canonical text it is given; the domain
(`domain.documents.build_docir`) derives ids, lines and confidence and checks the result.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token

from jejakekal.domain.ports import BlockSpan, DocumentParser


def _line_starts(text: str) -> list[int]:
    """Offsets where each line starts; only "\\n" ends a line in the canonical text."""
    starts = [0]
    starts.extend(i + 1 for i, ch in enumerate(text) if ch == "\n")
    return starts


class TextParser:
    """Each non-blank line is one `paragraph`, spanning the line exactly as written.

    Nothing is stripped (leading indentation and trailing spaces stay in the span), so
    a block's text is the source line minus its newline. Blank lines make no block.
    """

    name = "parser:text"
    version = "1"
    format = "text"

    def blocks(self, text: str) -> list[BlockSpan]:
        spans: list[BlockSpan] = []
        start = 0
        for line in text.split("\n"):
            if line.strip():
                spans.append(BlockSpan(kind="paragraph", start=start, end=start + len(line)))
            start += len(line) + 1
        return spans


# Leaf tokens and the block kind each becomes; paragraphs depend on their container.
_LEAF_KINDS = {
    "heading_open": "heading",
    "paragraph_open": "paragraph",
    "fence": "code",
    "code_block": "code",
    "html_block": "html",
    "hr": "hr",
    "table_open": "table",
}


class MarkdownParser:
    """Leaf blocks from markdown-it's token stream; each spans its whole source lines.

    A block runs from the start of its first line to the end of its last non-blank
    line, so list markers and `>` prefixes are inside the span and the span never ends
    in a newline. Containers (lists, quotes) are not blocks: a paragraph inside a list
    item becomes a `list_item`, one inside a blockquote a `quote` (the innermost
    container decides), which keeps blocks flat and non-overlapping.
    """

    name = "parser:markdown"
    version = "1"
    format = "markdown"

    def __init__(self) -> None:
        self._md = MarkdownIt("commonmark").enable("table")

    def blocks(self, text: str) -> list[BlockSpan]:
        lines = text.split("\n")
        starts = _line_starts(text)
        spans: list[BlockSpan] = []
        next_free = 0  # first line not yet inside a block
        for token, kind in self._leaves(self._md.parse(text)):
            assert token.map is not None
            # Leaf maps do not overlap in practice; the clamp keeps the docir invariant
            # should a rule ever hand back a line a previous leaf already holds.
            first, stop = max(token.map[0], next_free), min(token.map[1], len(lines))
            while first < stop and not lines[first].strip():
                first += 1
            while stop > first and not lines[stop - 1].strip():
                stop -= 1
            if first >= stop:
                continue
            level = int(token.tag[1:]) if kind == "heading" else None
            end = starts[stop - 1] + len(lines[stop - 1])
            spans.append(BlockSpan(kind=kind, start=starts[first], end=end, level=level))
            next_free = stop
        return spans

    @staticmethod
    def _leaves(tokens: list[Token]) -> list[tuple[Token, str]]:
        leaves: list[tuple[Token, str]] = []
        containers: list[str] = []
        in_table = False
        for token in tokens:
            if token.type == "table_close":
                in_table = False
            if in_table:
                continue
            if token.type in ("list_item_open", "blockquote_open"):
                containers.append(token.type)
            elif token.type in ("list_item_close", "blockquote_close"):
                containers.pop()
            kind = _LEAF_KINDS.get(token.type)
            if kind is None or token.map is None:
                continue
            if kind == "paragraph" and containers:
                kind = "list_item" if containers[-1] == "list_item_open" else "quote"
            in_table = kind == "table"
            leaves.append((token, kind))
        return leaves


PARSERS: dict[str, DocumentParser] = {"text": TextParser(), "markdown": MarkdownParser()}


def parser_for(document_format: str) -> DocumentParser:
    """The parser for a docir `format`."""
    if document_format not in PARSERS:
        raise ValueError(f"no parser for format {document_format!r}")
    return PARSERS[document_format]
