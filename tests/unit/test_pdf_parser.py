"""The PDF parser on PDFs built from known text: reading order, kinds, boxes, refusals."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import cast

import pytest

import corpus_pdf
from corpus_pdf import HostilePdf, TextPdf
from jejakekal.adapters.pdf import PdfParser
from jejakekal.domain.extraction import ExtractedBlock, Limits, UnreadableDocument

NO_SKIP: frozenset[int] = frozenset()
TEXT_PDFS = [
    corpus_pdf.one_column,
    corpus_pdf.two_columns,
    corpus_pdf.three_columns,
    corpus_pdf.table_page,
    corpus_pdf.turned_page,
    corpus_pdf.cropped_page,
    corpus_pdf.scripted_line,
    corpus_pdf.restricted,
]


def extract(sample: TextPdf, limits: Limits | None = None) -> list[ExtractedBlock]:
    return PdfParser().extract(str(sample.path), limits or Limits(), skip_pages=NO_SKIP).blocks


def bbox(block: ExtractedBlock) -> list[float]:
    return cast(list[float], block.locator["bbox"])


def texts(blocks: list[ExtractedBlock], kind: str | None = None) -> list[str]:
    return [block.text for block in blocks if kind is None or block.kind == kind]


def test_parser_names_itself_as_the_pdf_producer() -> None:
    parser = PdfParser()

    assert (parser.name, parser.version, parser.format) == ("parser:pdf", "1", "pdf")


@pytest.mark.parametrize("build", TEXT_PDFS)
def test_blocks_come_in_the_order_they_were_drawn(
    tmp_path: Path, build: Callable[[Path], TextPdf]
) -> None:
    sample = build(tmp_path)

    blocks = extract(sample)

    assert [(b.kind, b.text, b.locator["page"]) for b in blocks] == sample.order


def test_headings_are_levelled_by_font_size_largest_first(tmp_path: Path) -> None:
    sample = corpus_pdf.one_column(tmp_path)

    blocks = extract(sample)

    headings = [(b.text, b.level) for b in blocks if b.kind == "heading"]
    assert headings == [(h.text, h.level) for h in sample.headings]
    assert {level for _, level in headings} == {1, 2}
    assert all(b.level is None for b in blocks if b.kind != "heading")


def test_paragraph_lines_join_with_newlines_as_drawn(tmp_path: Path) -> None:
    sample = corpus_pdf.one_column(tmp_path)

    paragraphs = texts(extract(sample), "paragraph")

    assert paragraphs == [p.text for p in sample.paragraphs]
    assert all("\n" in text for text in paragraphs)  # every drawn paragraph wrapped
    assert all(text.strip() and "\r" not in text and "  " not in text for text in paragraphs)


def test_a_hyphen_ending_a_line_stays_as_drawn(tmp_path: Path) -> None:
    paragraphs = texts(extract(corpus_pdf.one_column(tmp_path)), "paragraph")

    assert "\n".join(corpus_pdf.HYPHENATED_LINES) in paragraphs


def test_bulleted_lines_become_list_items_with_their_hanging_lines(tmp_path: Path) -> None:
    blocks = extract(corpus_pdf.one_column(tmp_path))

    items = [b.text for b in blocks if b.kind == "list_item"]

    assert [item.replace("\n", " ") for item in items] == [
        f"{corpus_pdf.BULLET} {text}" for text in corpus_pdf.LIST_ITEMS
    ]
    assert "\n" in items[0]


def test_two_columns_read_the_whole_left_column_before_the_right(tmp_path: Path) -> None:
    sample = corpus_pdf.two_columns(tmp_path)

    blocks = extract(sample)

    assert blocks[0].kind == "heading"
    assert blocks[0].text == corpus_pdf.COLUMN_TITLE
    assert texts(blocks, "paragraph") == [p.text for p in sample.paragraphs]
    left_edges = [bbox(b)[0] for b in blocks[1:]]
    assert left_edges == sorted(left_edges)
    assert len(sample.paragraphs) == len(corpus_pdf.LEFT_COLUMN + corpus_pdf.RIGHT_COLUMN)


def test_table_rows_become_one_block_of_tab_separated_cells(tmp_path: Path) -> None:
    sample = corpus_pdf.table_page(tmp_path)

    blocks = extract(sample)

    assert [b.kind for b in blocks] == ["heading", "paragraph", "table", "paragraph"]
    assert blocks[2].text == "\n".join("\t".join(row) for row in corpus_pdf.TABLE)
    assert texts(blocks, "paragraph") == [corpus_pdf.TABLE_INTRO, corpus_pdf.TABLE_OUTRO]


@pytest.mark.parametrize("build", TEXT_PDFS)
def test_paragraph_boxes_sit_where_the_lines_were_drawn(
    tmp_path: Path, build: Callable[[Path], TextPdf]
) -> None:
    sample = build(tmp_path)

    found = {b.text: b for b in extract(sample) if b.kind == "paragraph"}

    for drawn in sample.paragraphs:
        block = found[drawn.text]
        x0, top, x1, bottom = bbox(block)
        assert block.locator["page"] == drawn.page
        assert x0 == pytest.approx(drawn.x, abs=1)
        assert drawn.x < x1 <= drawn.x + drawn.width + 2
        ascent, descent = corpus_pdf.BODY_SIZE, corpus_pdf.BODY_SIZE * 0.4
        assert drawn.first_baseline - ascent - 2 <= top < drawn.first_baseline
        assert drawn.last_baseline < bottom <= drawn.last_baseline + descent
        assert 0 <= x0 < x1 <= corpus_pdf.PAGE_WIDTH
        assert 0 <= top < bottom <= corpus_pdf.PAGE_HEIGHT


def test_boxes_are_rounded_to_hundredths_of_a_point(tmp_path: Path) -> None:
    blocks = extract(corpus_pdf.two_columns(tmp_path))

    for block in blocks:
        assert all(round(v, 2) == v for v in bbox(block))


def test_pages_report_size_and_text_layer_characters(tmp_path: Path) -> None:
    sample = corpus_pdf.one_column(tmp_path)

    pages = PdfParser().pages(str(sample.path), Limits())

    assert [p.page for p in pages] == list(range(1, sample.pages + 1))
    assert all((p.width, p.height) == (612.0, 792.0) for p in pages)
    for info, (title, paragraphs) in zip(pages, corpus_pdf.PAGE_TOPICS, strict=True):
        drawn = [title, *paragraphs]
        if info.page == corpus_pdf.SUBHEADING.page:
            drawn += [corpus_pdf.SUBHEADING.text, corpus_pdf.SUBHEADING_PARAGRAPH]
        if info.page == corpus_pdf.HYPHENATED_PAGE:
            drawn += corpus_pdf.HYPHENATED_LINES
            drawn += [f"{corpus_pdf.BULLET}{item}" for item in corpus_pdf.LIST_ITEMS]
        assert info.chars == sum(len(text.replace(" ", "")) for text in drawn)
        assert info.has_text


def test_a_blank_page_has_no_text_layer(tmp_path: Path) -> None:
    path = corpus_pdf.blank_page(tmp_path)

    pages = PdfParser().pages(str(path), Limits())
    extraction = PdfParser().extract(str(path), Limits(), skip_pages=NO_SKIP)

    assert [(p.page, p.chars, p.has_text) for p in pages] == [(1, 0, False)]
    assert extraction.blocks == []
    assert extraction.pages == pages


def test_skipped_pages_give_no_blocks_but_keep_their_page_info(tmp_path: Path) -> None:
    sample = corpus_pdf.one_column(tmp_path)

    extraction = PdfParser().extract(str(sample.path), Limits(), skip_pages=frozenset({2}))

    assert {b.locator["page"] for b in extraction.blocks} == {1, 3}
    assert [p.page for p in extraction.pages] == [1, 2, 3]
    assert extraction.pages[1].has_text


HOSTILE: list[Callable[[Path], HostilePdf]] = [
    corpus_pdf.truncated,
    corpus_pdf.encrypted,
    corpus_pdf.not_a_pdf,
    corpus_pdf.no_pages,
    corpus_pdf.broken_page,
    lambda folder: corpus_pdf.page_bomb(folder, Limits().max_pages),
]


@pytest.mark.parametrize("build", HOSTILE)
def test_hostile_files_raise_one_readable_sentence(
    tmp_path: Path, build: Callable[[Path], HostilePdf]
) -> None:
    hostile = build(tmp_path)
    parser = PdfParser()

    with pytest.raises(UnreadableDocument) as from_pages:
        parser.pages(str(hostile.path), Limits())
    with pytest.raises(UnreadableDocument) as from_extract:
        parser.extract(str(hostile.path), Limits(), skip_pages=NO_SKIP)

    assert str(from_pages.value) == str(from_extract.value) == hostile.message


def test_a_damaged_file_read_after_an_encrypted_one_is_not_called_encrypted(
    tmp_path: Path,
) -> None:
    parser = PdfParser()
    encrypted = corpus_pdf.encrypted(tmp_path)
    empty = corpus_pdf.no_pages(tmp_path)
    with pytest.raises(UnreadableDocument):
        parser.pages(str(encrypted.path), Limits())

    with pytest.raises(UnreadableDocument) as raised:
        parser.pages(str(empty.path), Limits())

    assert str(raised.value) == empty.message


def test_a_page_bomb_is_refused_under_any_limit_below_its_declared_count(
    tmp_path: Path,
) -> None:
    bomb = corpus_pdf.page_bomb(tmp_path, limit=10)

    with pytest.raises(UnreadableDocument) as raised:
        PdfParser().pages(str(bomb.path), Limits(max_pages=10))

    assert str(raised.value) == bomb.message


def test_a_page_bomb_under_a_generous_limit_fails_on_its_first_missing_page(
    tmp_path: Path,
) -> None:
    bomb = corpus_pdf.page_bomb(tmp_path, limit=200_000)

    with pytest.raises(UnreadableDocument) as raised:
        PdfParser().pages(str(bomb.path), Limits(max_pages=200_000))

    assert str(raised.value) == "the PDF cannot be read: a page is damaged"


def test_a_document_over_the_page_limit_is_refused(tmp_path: Path) -> None:
    sample = corpus_pdf.one_column(tmp_path)

    with pytest.raises(UnreadableDocument) as raised:
        extract(sample, Limits(max_pages=2))

    assert str(raised.value) == "the PDF has 3 pages; the limit is 2"


def test_a_document_over_the_block_limit_is_refused(tmp_path: Path) -> None:
    sample = corpus_pdf.one_column(tmp_path)

    with pytest.raises(UnreadableDocument) as raised:
        extract(sample, Limits(max_blocks=3))

    assert str(raised.value) == "the PDF has more than 3 blocks"


def test_a_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableDocument) as raised:
        PdfParser().pages(str(tmp_path / "absent.pdf"), Limits())

    assert str(raised.value) == "the PDF cannot be read: the file cannot be opened"


def test_parsing_from_many_threads_gives_the_same_blocks(tmp_path: Path) -> None:
    sample = corpus_pdf.two_columns(tmp_path)
    alone = extract(sample)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: extract(sample), range(8)))

    assert all(result == alone for result in results)


def test_the_corpus_is_deterministic(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()

    first = corpus_pdf.table_page(tmp_path / "a")
    second = corpus_pdf.table_page(tmp_path / "b")

    assert first.path.read_bytes() == second.path.read_bytes()
