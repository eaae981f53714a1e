"""The geometry of a PDF page: glyphs into rows, rows into columns, tables, paragraphs,
list items and headings (`adapters.pdf` reads the glyphs; nothing here touches pdfium).
Coordinates are PDF points from the shown page's top-left corner, y growing down.
"""

from __future__ import annotations

import bisect
import itertools
import math
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from jejakekal.domain.extraction import ExtractedBlock

_WORD_GAP_EM = 0.12  # a gap between glyphs wider than this is a space
_CELL_GAP_EM = 1.0  # wider than any justified word space: separates table cells and columns
_PARAGRAPH_PITCH_EM = 1.6  # baselines further apart than this end a paragraph
_INDENT_EM = 0.8  # a line starting this much right of the previous one starts a paragraph
_HEADING_RATIO = 1.15  # a line this much larger than the body text is a heading
# Bullets, black and white: circle, small square, triangle, hyphen, square; and an en dash.
_BULLETS = frozenset("\u2022\u25e6\u25aa\u25ab\u2023\u2043\u25cf\u25cb\u25a0\u25a1\u2013")


@dataclass(frozen=True, slots=True)
class Box:
    x0: float
    top: float
    x1: float
    bottom: float

    def locator(self, page: int) -> dict[str, object]:
        bbox = [round(v, 2) for v in (self.x0, self.top, self.x1, self.bottom)]
        return {"page": page, "bbox": bbox}


def _bounds(boxes: Iterable[Box]) -> Box:
    x0s, tops, x1s, bottoms = zip(*((b.x0, b.top, b.x1, b.bottom) for b in boxes), strict=True)
    return Box(min(x0s), min(tops), max(x1s), max(bottoms))


@dataclass(frozen=True, slots=True)
class Glyph:
    char: str
    box: Box  # the loose box: advance width by the font's line height
    baseline: float
    size: float


@dataclass(frozen=True, slots=True)
class _Segment:
    """Glyphs of one row with no wide gap between them: a line of a column, or a cell."""

    text: str
    box: Box
    size: float


@dataclass(frozen=True, slots=True)
class Row:
    baseline: float
    segments: tuple[_Segment, ...]

    @property
    def box(self) -> Box:
        return _bounds(segment.box for segment in self.segments)

    @property
    def size(self) -> float:
        return max(segment.size for segment in self.segments)


@dataclass(frozen=True, slots=True)
class Table:
    rows: tuple[Row, ...]


def rows_of(glyphs: list[Glyph]) -> list[Row]:
    """Glyphs grouped by baseline, top to bottom, each row split at wide gaps."""
    lines: list[list[Glyph]] = []
    for glyph in sorted(glyphs, key=lambda g: (g.baseline, g.box.x0)):
        if lines and abs(glyph.baseline - lines[-1][0].baseline) <= 0.25 * lines[-1][0].size:
            lines[-1].append(glyph)
        elif lines and _is_script_of(lines[-1], [glyph]):
            lines[-1].append(glyph)  # a subscript stays on its line
        elif lines and _is_script_of([glyph], lines[-1]):
            lines[-1] = [glyph, *lines[-1]]  # the line a superscript was set above
        else:
            lines.append([glyph])
    return [_row(line) for line in lines]


def _is_script_of(line: list[Glyph], script: list[Glyph]) -> bool:
    """Whether `script` is smaller type raised or lowered within `line`'s height."""
    big, small = max(g.size for g in line), max(g.size for g in script)
    if small >= 0.85 * big or abs(script[0].baseline - line[0].baseline) > 0.5 * big:
        return False
    outer, inner = _bounds(g.box for g in line), _bounds(g.box for g in script)
    shared = min(outer.bottom, inner.bottom) - max(outer.top, inner.top)
    return shared >= 0.6 * (inner.bottom - inner.top)


def _row(glyphs: list[Glyph]) -> Row:
    ordered = sorted(glyphs, key=lambda g: g.box.x0)
    cuts = [i for i in range(1, len(ordered)) if _gap(ordered[i - 1], ordered[i]) > _CELL_GAP_EM]
    bounds = itertools.pairwise([0, *cuts, len(ordered)])
    baseline = max(glyphs, key=lambda g: g.size).baseline  # the line's, not a script's
    return Row(baseline, tuple(_segment(ordered[a:b]) for a, b in bounds))


def _gap(before: Glyph, after: Glyph) -> float:
    """The blank space between two glyphs, in ems of the larger one."""
    return (after.box.x0 - before.box.x1) / max(before.size, after.size)


def _segment(glyphs: list[Glyph]) -> _Segment:
    parts = [glyphs[0].char]
    for before, after in itertools.pairwise(glyphs):
        if _gap(before, after) > _WORD_GAP_EM:
            parts.append(" ")
        parts.append(after.char)
    box = _bounds(g.box for g in glyphs)
    # pdfium gives characters beyond the BMP as UTF-16 halves: pair them, replace strays.
    text = "".join(parts).encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return _Segment(text, box, statistics.median(g.size for g in glyphs))


def read_order(rows: list[Row]) -> list[Row | Table]:
    """Rows and tables in reading order: between full-width rows, column after column."""
    cuts = _gutters(rows)
    ordered: list[Row | Table] = []
    columns: list[list[Row]] = [[] for _ in range(len(cuts) + 1)]
    for row in rows:
        if any(s.box.x0 < cut < s.box.x1 for s in row.segments for cut in cuts):
            ordered += [item for column in columns for item in _tables(column)] + [row]
            columns = [[] for _ in columns]
            continue
        for k, column in enumerate(columns):
            parts = tuple(s for s in row.segments if bisect.bisect(cuts, s.box.x0) == k)
            if parts:
                column.append(Row(row.baseline, parts))
    return ordered + [item for column in columns for item in _tables(column)]


def _gutters(rows: list[Row]) -> list[float]:
    """The x of each vertical strip that most rows leave blank, between text columns.

    Table cells leave such strips too; a column's lines are long and fill its width.
    """
    segments = [s for row in rows for s in row.segments]
    if len(rows) < 4:
        return []
    # Sweep the segments' edges left to right, counting the segments over each stretch.
    edges = sorted([(s.box.x0, 1) for s in segments] + [(s.box.x1, -1) for s in segments])
    stretches: list[tuple[float, float, int]] = []  # from, to, segments over it
    count = 0
    for (x, delta), (next_x, _) in itertools.pairwise(edges):
        count += delta
        if next_x > x:
            stretches.append((x, next_x, count))
    # A gutter is a valley: at most half as many segments as the columns on both sides.
    counts = [c for _, _, c in stretches]
    before, after = (
        list(itertools.accumulate(counts, max)),
        list(itertools.accumulate(reversed(counts), max))[::-1],
    )
    blank = [2 * c <= min(b, a) for c, b, a in zip(counts, before, after, strict=True)]
    runs = [list(run) for _, run in itertools.groupby(range(len(stretches)), key=blank.__getitem__)]
    # Cut each valley at its floor: its emptiest stretch, the widest of those.
    floors = [
        min(run, key=lambda i: (counts[i], stretches[i][0] - stretches[i][1])) for run in runs
    ]
    cuts = [(stretches[i][0] + stretches[i][1]) / 2 for i in floors if blank[i]]
    bounds = [-math.inf, *cuts, math.inf]
    columns = [
        [s for s in segments if bounds[k] <= s.box.x0 and s.box.x1 <= bounds[k + 1]]
        for k in range(len(cuts) + 1)
    ]
    return cuts if cuts and all(_is_text_column(column) for column in columns) else []


def _is_text_column(segments: list[_Segment]) -> bool:
    """Most of the text is in lines of several words that fill most of the column."""
    width = max(s.box.x1 for s in segments) - min(s.box.x0 for s in segments)
    long = [s for s in segments if s.text.count(" ") >= 3 and s.box.x1 - s.box.x0 >= 0.6 * width]
    return len(long) >= 2 and sum(len(s.text) for s in long) >= 0.6 * sum(
        len(s.text) for s in segments
    )


def _tables(rows: list[Row]) -> list[Row | Table]:
    """Runs of two or more close rows whose cells line up in the same columns."""
    items: list[Row | Table] = []
    i = 0
    while i < len(rows):
        end = i + 1
        while end < len(rows) and _continues_table(rows[i], rows[end - 1], rows[end]):
            end += 1
        if end - i >= 2:
            items.append(Table(tuple(rows[i:end])))
        else:
            items.append(rows[i])
        i = end
    return items


def _continues_table(first: Row, previous: Row, row: Row) -> bool:
    if len(first.segments) < 2 or len(row.segments) != len(first.segments):
        return False
    if _is_bullet(first):  # a bullet set apart from its text is a list, not a column
        return False
    if row.baseline - previous.baseline > 2.5 * max(row.size, previous.size):
        return False
    return all(
        cell.box.x0 <= column.box.x1 + 2 and column.box.x0 <= cell.box.x1 + 2
        for cell, column in zip(row.segments, first.segments, strict=True)
    )


def layout_blocks(layouts: list[tuple[int, list[Row | Table]]]) -> list[ExtractedBlock]:
    """Blocks of all pages; heading levels are shared by the whole document."""
    sizes: Counter[float] = Counter()  # characters set in each size
    for _, items in layouts:
        for item in items:
            rows = item.rows if isinstance(item, Table) else (item,)
            for segment in (segment for row in rows for segment in row.segments):
                sizes[_size_key(segment.size)] += len(segment.text)
    body = sizes.most_common(1)[0][0] if sizes else 0.0
    larger = [size for size in sizes if size >= body * _HEADING_RATIO]
    levels = {size: min(i + 1, 6) for i, size in enumerate(sorted(larger, reverse=True))}
    return [block for page, items in layouts for block in _page_blocks(page, items, levels)]


def _size_key(size: float) -> float:
    return round(size * 2) / 2  # half points: a size set as 11 may be read as 10.98


def _page_blocks(
    page: int, items: list[Row | Table], levels: dict[float, int]
) -> list[ExtractedBlock]:
    blocks: list[ExtractedBlock] = []
    lines: list[Row] = []
    for item in [*items, None]:  # None: the page's end, which ends the last block
        if lines and (not isinstance(item, Row) or _starts_block(lines, item, levels)):
            blocks.append(_text_block(page, lines, levels.get(_size_key(lines[0].size))))
            lines = []
        if isinstance(item, Table):
            blocks.append(_table_block(page, item))
        elif item is not None:
            lines.append(item)
    return blocks


def _starts_block(lines: list[Row], row: Row, levels: dict[float, int]) -> bool:
    first, previous = lines[0], lines[-1]
    size = max(previous.size, row.size)
    if levels.get(_size_key(row.size)) != levels.get(_size_key(first.size)):
        return True
    if abs(previous.size - row.size) > 0.15 * size or row.baseline < previous.baseline:
        return True
    if row.baseline - previous.baseline > _PARAGRAPH_PITCH_EM * size or _is_bullet(row):
        return True
    if _is_bullet(first):  # a list item's later lines hang right of its bullet
        return row.box.x0 <= first.box.x0 + 0.5 * size
    return row.box.x0 - previous.box.x0 > _INDENT_EM * size


def _line_text(row: Row) -> str:
    return " ".join(segment.text for segment in row.segments)


def _is_bullet(row: Row) -> bool:
    return row.segments[0].text[0] in _BULLETS


def _text_block(page: int, lines: list[Row], level: int | None) -> ExtractedBlock:
    locator = _bounds(line.box for line in lines).locator(page)
    if level is not None:
        text = " ".join(_line_text(line) for line in lines)
        return ExtractedBlock("heading", text, locator, level=level)
    kind = "list_item" if _is_bullet(lines[0]) else "paragraph"
    return ExtractedBlock(kind, "\n".join(_line_text(line) for line in lines), locator)


def _table_block(page: int, table: Table) -> ExtractedBlock:
    text = "\n".join("\t".join(s.text for s in row.segments) for row in table.rows)
    return ExtractedBlock("table", text, _bounds(row.box for row in table.rows).locator(page))
