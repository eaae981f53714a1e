"""HTML pages read into blocks with element-path locators (selectolax over lexbor).

Boilerplate (navigation, headers, footers, scripts, hidden elements) is skipped and the
content root is the first `<main>`, else the first `<article>`, else `<body>`. The walk
over the tree is iterative: lexbor builds a tree of any depth, and a page nested ten
thousand elements deep must not exhaust Python's stack. Below `MAX_DEPTH` elements open
no blocks of their own; their text joins the block that encloses them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from jejakekal.domain.extraction import ExtractedBlock, Extraction, Limits, UnreadableDocument

MAX_DEPTH = 256  # elements below the content root that still get blocks and paths

_DROPPED = frozenset(
    {"script", "style", "noscript", "template", "nav", "header", "footer", "aside"}
    | {"form", "iframe", "svg"}
)
_LEVELS = {f"h{n}": n for n in range(1, 7)}
_BLOCK_KINDS = {
    "p": "paragraph",
    "li": "list_item",
    "pre": "code",
    "blockquote": "quote",
    "table": "table",
    **dict.fromkeys(_LEVELS, "heading"),
}
# Elements that flow within a line; every other element ends the line or block before it.
_INLINE = frozenset(
    {"a", "abbr", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn", "em"}
    | {"font", "i", "img", "ins", "kbd", "label", "mark", "q", "s", "samp", "small"}
    | {"span", "strike", "strong", "sub", "sup", "time", "tt", "u", "var", "wbr"}
)
_CELLS = frozenset({"td", "th"})
# A <header> inside <main> or <article> introduces that content (its title, byline);
# only a page's own header is boilerplate.
_SECTIONS = frozenset({"main", "article"})
_NO_DISPLAY = re.compile(r"display\s*:\s*none", re.IGNORECASE)

Role = Literal["skip", "block", "container", "inline", "inside", "table", "deep"]


def _collapsed(text: str) -> str:
    return " ".join(text.split())


def _is_dropped(node: LexborNode, *, in_section: bool = False) -> bool:
    if node.tag in _DROPPED and not (in_section and node.tag == "header"):
        return True
    attrs = node.attrs
    if "hidden" in attrs or (attrs.get("aria-hidden") or "").strip().lower() == "true":
        return True
    # Cookie banners and the like are often hidden by an inline style, not the attribute.
    return bool(_NO_DISPLAY.search(attrs.get("style") or ""))


class _Text:
    """A block's text as it is read: whitespace runs collapse, "\\n" marks a line break."""

    def __init__(self, kind: str, path: str, level: int | None = None) -> None:
        self.kind, self.path, self.level = kind, path, level
        self.parts: list[str] = []

    def add(self, text: str) -> None:
        self.parts.append(text if self.kind == "code" else re.sub(r"\s+", " ", text))

    def boundary(self, tag: str) -> None:
        """An element starts or ends inside the block: a new line, except within code."""
        if self.kind != "code" or tag == "br":
            self.parts.append("\n")

    def take(self) -> str:
        """The text read so far, cleaned, and an empty buffer for what follows."""
        raw, self.parts = "".join(self.parts), []
        if self.kind == "code":
            lines = [line.rstrip() for line in raw.replace("\r", "\n").split("\n")]
            while lines and not lines[0].strip():
                lines.pop(0)
            while lines and not lines[-1]:
                lines.pop()
            return "\n".join(lines)
        lines = [line for line in map(_collapsed, raw.split("\n")) if line]
        return (" " if self.kind == "heading" else "\n").join(lines)


class _Table:
    """A table's cells as they are read: cells joined by tabs, rows by newlines.

    Text outside any cell (a caption) becomes a row of its own; a table nested in a cell
    is flattened into that cell's text.
    """

    kind = "table"
    level = None

    def __init__(self, path: str) -> None:
        self.path = path
        self.rows: list[list[str]] = []
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.loose: list[str] = []
        self.nested = 0

    def add(self, text: str) -> None:
        (self.cell if self.cell is not None else self.loose).append(text)

    def boundary(self, tag: str) -> None:
        self.add(" ")

    def enter(self, tag: str) -> None:
        if tag == "table":
            self.nested += 1
        elif self.nested or tag not in _CELLS | {"tr"}:
            self.add(" ")
        elif tag == "tr":
            self._end_row()
            self._start_row()
        else:
            self._end_cell()
            if self.row is None:
                self._start_row()
            self.cell = []

    def leave(self, tag: str) -> None:
        if tag == "table":
            self.nested -= 1
            self.add(" ")
        elif self.nested:
            return
        elif tag == "tr":
            self._end_row()
        elif tag in _CELLS:
            self._end_cell()

    def take(self) -> str:
        self._end_row()
        self._flush_loose()
        # Trailing empty cells would leave trailing tabs, which the docir's text trims.
        lines = ["\t".join(row).rstrip("\t") for row in self.rows if any(row)]
        self.rows = []
        return "\n".join(lines)

    def _flush_loose(self) -> None:
        text, self.loose = _collapsed("".join(self.loose)), []
        if text:
            self.rows.append([text])

    def _start_row(self) -> None:
        self._flush_loose()
        self.row = []

    def _end_cell(self) -> None:
        if self.cell is not None and self.row is not None:
            self.row.append(_collapsed("".join(self.cell)))
        self.cell = None

    def _end_row(self) -> None:
        self._end_cell()
        if self.row is not None:
            self.rows.append(self.row)
        self.row = None


@dataclass
class _Frame:
    """An open element on the way down: its path, and its children's names once counted."""

    node: LexborNode
    path: str
    counts: dict[str, int] | None = None
    seen: dict[str, int] = field(default_factory=dict)

    def child_path(self, tag: str) -> str:
        """The path of the next child named `tag`; called for every element child, in order."""
        if self.counts is None:
            self.counts = {}
            for child in self.node.iter():
                name = child.tag or ""
                self.counts[name] = self.counts.get(name, 0) + 1
        self.seen[tag] = self.seen.get(tag, 0) + 1
        if self.counts.get(tag, 0) > 1:
            return f"{self.path}/{tag}[{self.seen[tag]}]"
        return f"{self.path}/{tag}"


@dataclass(frozen=True)
class _Entered:
    role: Role
    tag: str = ""
    framed: bool = False


_SKIPPED = _Entered("skip")


class _PageReader:
    """Turns the walk's enter/leave events under one content root into blocks."""

    def __init__(self, root: LexborNode, limits: Limits) -> None:
        self.root, self.limits = root, limits
        self.blocks: list[ExtractedBlock] = []
        self.frames = [_Frame(root, _path_to(root))]
        self.containers = [self.frames[0].path]  # where text directly inside them belongs
        self.open: list[_Text | _Table] = []  # the block being read, below any outer items
        self.loose = _Text("paragraph", "")
        self.sections = 1 if root.tag in _SECTIONS else 0  # open <main>/<article> elements

    def read(self) -> list[ExtractedBlock]:
        stack: list[_Entered] = [_Entered("container", self.root.tag or "", framed=True)]
        node, descend = self.root, True
        while True:
            child = node.first_child if descend else None
            if child is not None:
                node = child
                stack.append(self._enter(node, len(stack)))
                descend = stack[-1].role != "skip"
                continue
            while True:
                self._leave(stack.pop())
                if not stack:
                    return self.blocks
                sibling = node.next
                if sibling is not None:
                    node = sibling
                    stack.append(self._enter(node, len(stack)))
                    descend = stack[-1].role != "skip"
                    break
                parent = node.parent
                assert parent is not None  # the root is still on the stack above it
                node = parent

    def _enter(self, node: LexborNode, depth: int) -> _Entered:
        if node.is_text_node:
            self._text(node.text_content or "")
            return _SKIPPED
        if not node.is_element_node:
            return _SKIPPED
        tag = node.tag or ""
        path = self.frames[-1].child_path(tag) if depth <= MAX_DEPTH else None
        if _is_dropped(node, in_section=self.sections > 0):
            return _SKIPPED
        if tag in _SECTIONS:
            self.sections += 1
        if path is None:
            if tag not in _INLINE:
                self._boundary(tag)
            return _Entered("deep", tag)
        self.frames.append(_Frame(node, path))
        return _Entered(self._open(tag, path), tag, framed=True)

    def _open(self, tag: str, path: str) -> Role:
        top = self.open[-1] if self.open else None
        if top is None:
            if tag in _BLOCK_KINDS:
                self._flush_loose()
                kind = _BLOCK_KINDS[tag]
                self.open.append(
                    _Table(path) if kind == "table" else _Text(kind, path, _LEVELS.get(tag))
                )
                return "block"
            if tag == "br":
                self._boundary(tag)
            if tag in _INLINE or tag == "br":
                return "inline"
            self._flush_loose()
            self.containers.append(path)
            return "container"
        if tag == "li" and top.kind == "list_item":
            # A nested list splits its item: the text so far, then each inner item.
            self._emit(top)
            self.open.append(_Text("list_item", path))
            return "block"
        if isinstance(top, _Table):
            top.enter(tag)
            return "table"
        if tag not in _INLINE or tag == "br":
            top.boundary(tag)
        return "inside"

    def _leave(self, entered: _Entered) -> None:
        if entered.framed:
            self.frames.pop()
        if entered.tag in _SECTIONS:
            self.sections -= 1
        role, tag = entered.role, entered.tag
        if role == "block":
            self._emit(self.open.pop())
        elif role == "container":
            self._flush_loose()
            self.containers.pop()
        elif role == "table":
            top = self.open[-1]
            assert isinstance(top, _Table)
            top.leave(tag)
        elif role in ("inside", "deep") and tag not in _INLINE and tag != "br":
            self._boundary(tag)

    def _text(self, text: str) -> None:
        if self.open:
            self.open[-1].add(text)
            return
        if not self.loose.parts and text.strip():
            self.loose.path = self.containers[-1]
        if self.loose.parts or text.strip():
            self.loose.add(text)

    def _boundary(self, tag: str) -> None:
        if self.open:
            self.open[-1].boundary(tag)
        elif self.loose.parts:  # so that loose parts, once there, always hold some text
            self.loose.boundary(tag)

    def _flush_loose(self) -> None:
        self._emit(self.loose)

    def _emit(self, block: _Text | _Table) -> None:
        text = block.take()
        if not text:
            return
        if len(self.blocks) >= self.limits.max_blocks:
            raise UnreadableDocument(
                f"the HTML page has more than {self.limits.max_blocks} blocks; refusing it"
            )
        self.blocks.append(
            ExtractedBlock(
                kind=block.kind, text=text, locator={"path": block.path}, level=block.level
            )
        )


def _path_to(node: LexborNode) -> str:
    """The path from `<body>` down to `node` (the content root, maybe below body)."""
    segments: list[str] = []
    while node.tag != "body" and node.parent is not None:
        parent = node.parent
        tag = node.tag or ""
        same = [child.mem_id for child in parent.iter() if child.tag == tag]
        index = same.index(node.mem_id) + 1 if node.mem_id in same else 1
        segments.append(f"{tag}[{index}]" if len(same) > 1 else tag)
        node = parent
    return "/".join(["body", *reversed(segments)])


def _inside_dropped(node: LexborNode) -> bool:
    current: LexborNode | None = node
    while current is not None and current.is_element_node:
        if _is_dropped(current):
            return True
        current = current.parent
    return False


def _content_roots(tree: LexborHTMLParser) -> list[LexborNode]:
    """The first visible `<main>`, then `<article>`, then `<body>`: tried in that order."""
    roots: list[LexborNode] = []
    for selector in ("main", "article"):
        found = next((n for n in tree.css(selector) if not _inside_dropped(n)), None)
        if found is not None:
            roots.append(found)
    if tree.body is not None:
        roots.append(tree.body)
    return roots


class HtmlParser:
    """One block per heading, paragraph, list item, code block, quote and table."""

    name = "parser:html"
    version = "1"
    format = "html"

    def extract(self, path: str, limits: Limits, *, skip_pages: frozenset[int]) -> Extraction:
        del skip_pages  # a web page has no pages to hand to OCR
        raw = Path(path).read_bytes()
        try:
            # lexbor picks the encoding as the HTML Standard does: a BOM, else a declared
            # <meta charset> in the first 1024 bytes, else UTF-8; bytes invalid in that
            # encoding become U+FFFD, so a page is never refused for its encoding.
            tree = LexborHTMLParser(raw, encoding=True)
        except SelectolaxError as exc:
            raise UnreadableDocument(f"the HTML page cannot be parsed: {exc}") from exc
        for root in _content_roots(tree):
            # An empty <main> (a page that fills it by script) falls back to the next root.
            blocks = _PageReader(root, limits).read()
            if blocks:
                return Extraction(blocks=blocks)
        raise UnreadableDocument("the HTML page has no text content")
