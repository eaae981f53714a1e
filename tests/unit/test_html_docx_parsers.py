"""The HTML and DOCX parsers: blocks with locators, boilerplate dropped, hostile files refused."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import docx
import pytest

import corpus_office as corpus
from jejakekal.adapters.docx import DocxParser
from jejakekal.adapters.html import HtmlParser
from jejakekal.domain.documents import BLOCK_KINDS
from jejakekal.domain.extraction import Extraction, FormatParser, Limits, UnreadableDocument

NO_PAGES: frozenset[int] = frozenset()


def _html(path: Path, limits: Limits | None = None) -> Extraction:
    return HtmlParser().extract(str(path), limits or Limits(), skip_pages=NO_PAGES)


def _docx(path: Path, limits: Limits | None = None) -> Extraction:
    return DocxParser().extract(str(path), limits or Limits(), skip_pages=NO_PAGES)


def test_both_parsers_meet_the_format_parser_port() -> None:
    parsers: list[FormatParser] = [HtmlParser(), DocxParser()]
    assert [(p.name, p.version, p.format) for p in parsers] == [
        ("parser:html", "1", "html"),
        ("parser:docx", "1", "docx"),
    ]


# --- HTML ---------------------------------------------------------------------------------


def test_article_page_gives_main_blocks_in_order_with_paths(tmp_path: Path) -> None:
    written = corpus.write_article_page(tmp_path)

    extraction = _html(written.path)

    assert extraction.blocks == written.blocks
    assert extraction.pages == []


def test_article_page_drops_every_piece_of_boilerplate(tmp_path: Path) -> None:
    written = corpus.write_article_page(tmp_path)

    text = "\n".join(block.text for block in _html(written.path).blocks)

    for phrase in corpus.BOILERPLATE:
        assert phrase not in text


def test_page_without_main_reads_body_with_loose_text_code_quote_and_nested_list(
    tmp_path: Path,
) -> None:
    written = corpus.write_plain_page(tmp_path)

    blocks = _html(written.path).blocks

    assert blocks == written.blocks
    assert "Site menu" not in "\n".join(block.text for block in blocks)


def test_blocks_use_known_kinds_and_only_headings_have_levels(tmp_path: Path) -> None:
    blocks = [
        *_html(corpus.write_article_page(tmp_path).path).blocks,
        *_html(corpus.write_plain_page(tmp_path).path).blocks,
        *_docx(corpus.write_report_docx(tmp_path).path).blocks,
    ]

    for block in blocks:
        assert block.kind in BLOCK_KINDS
        assert (block.level is not None) == (block.kind == "heading")
        assert block.text and block.text == block.text.strip() and "\r" not in block.text


def test_article_falls_back_to_body_when_main_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "spa.html"
    path.write_text("<body><main></main><article><p>Article text</p></article></body>")

    blocks = _html(path).blocks

    assert [(b.text, b.locator) for b in blocks] == [("Article text", {"path": "body/article/p"})]


def test_declared_charset_decodes_non_utf8_bytes(tmp_path: Path) -> None:
    written = corpus.write_declared_charset_page(tmp_path)

    assert _html(written.path).blocks == written.blocks


def test_undeclared_bytes_that_are_not_utf8_become_replacement_characters(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bad.html"
    path.write_bytes(b"<p>caf\xe9 au lait</p>")

    assert [b.text for b in _html(path).blocks] == ["caf\ufffd au lait"]


def test_page_nested_ten_thousand_deep_parses_and_keeps_its_text(tmp_path: Path) -> None:
    written = corpus.write_deep_page(tmp_path)

    blocks = _html(written.path).blocks

    assert blocks == written.blocks


def test_table_cells_join_with_tabs_and_caption_leads(tmp_path: Path) -> None:
    path = tmp_path / "table.html"
    path.write_text(
        "<table><caption>Tides</caption><tr><th>A</th><th>B</th></tr>"
        "<tr><td>1<br>one</td><td><table><tr><td>in</td><td>ner</td></tr></table></td></tr>"
        "</table>"
    )

    (block,) = _html(path).blocks

    assert (block.kind, block.text) == ("table", "Tides\nA\tB\n1 one\tin ner")


def test_page_with_more_blocks_than_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "long.html"
    path.write_text("".join(f"<p>Paragraph {n}</p>" for n in range(11)))

    with pytest.raises(UnreadableDocument, match="more than 10 blocks"):
        _html(path, Limits(max_blocks=10))


@pytest.mark.parametrize(
    "content",
    [b"", b"   \n", b"<html><body><nav>Menu</nav><script>run()</script></body></html>"],
)
def test_page_without_text_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.html"
    path.write_bytes(content)

    with pytest.raises(UnreadableDocument, match=r"^the HTML page has no text content$"):
        _html(path)


def test_textless_corpus_page_is_refused(tmp_path: Path) -> None:
    hostile = corpus.write_textless_page(tmp_path)

    with pytest.raises(UnreadableDocument, match=f"^{re.escape(hostile.message)}$"):
        _html(hostile.path)


# --- DOCX ---------------------------------------------------------------------------------


def test_report_docx_gives_headings_lists_paragraphs_and_table_in_order(tmp_path: Path) -> None:
    written = corpus.write_report_docx(tmp_path)

    extraction = _docx(written.path)

    assert extraction.blocks == written.blocks
    assert extraction.pages == []


def test_docx_paragraph_locators_index_python_docx_paragraphs(tmp_path: Path) -> None:
    written = corpus.write_report_docx(tmp_path)
    paragraphs = docx.Document(str(written.path)).paragraphs

    for block in _docx(written.path).blocks:
        index = block.locator.get("paragraph")
        if isinstance(index, int):
            assert " ".join(paragraphs[index].text.split()) == block.text


def test_docx_with_more_blocks_than_the_limit_is_refused(tmp_path: Path) -> None:
    written = corpus.write_report_docx(tmp_path)

    with pytest.raises(UnreadableDocument, match=r"^the Word document has more than 3 blocks"):
        _docx(written.path, Limits(max_blocks=3))


HOSTILE_DOCX: list[Callable[[Path], corpus.Hostile]] = [
    corpus.write_dense_member_docx,
    corpus.write_plain_zip,
    corpus.write_truncated_docx,
    corpus.write_text_as_docx,
    corpus.write_textless_docx,
]


@pytest.mark.parametrize("write", HOSTILE_DOCX, ids=lambda write: write.__name__)
def test_hostile_docx_is_refused_with_one_sentence(
    tmp_path: Path, write: Callable[[Path], corpus.Hostile]
) -> None:
    hostile = write(tmp_path)

    with pytest.raises(UnreadableDocument) as refused:
        _docx(hostile.path)

    message = str(refused.value)
    assert message.startswith(hostile.message)
    assert "\n" not in message


def test_zip_bomb_is_refused_from_its_directory(tmp_path: Path) -> None:
    hostile = corpus.write_zip_bomb(tmp_path)
    assert hostile.path.stat().st_size < 2 * corpus.MIB  # 300 MiB of zeros, deflated

    with pytest.raises(UnreadableDocument, match=f"^{re.escape(hostile.message)}$"):
        _docx(hostile.path)
    with pytest.raises(UnreadableDocument, match=r"^the DOCX file unpacks to more than 64 MiB"):
        _docx(hostile.path, Limits(max_unpacked_bytes=64 * corpus.MIB))


def test_docx_whose_xml_is_broken_is_refused(tmp_path: Path) -> None:
    written = corpus.write_report_docx(tmp_path)
    broken = tmp_path / "broken.docx"
    with (
        zipfile.ZipFile(written.path) as source,
        zipfile.ZipFile(broken, "w") as target,
    ):
        for member in source.infolist():
            data = source.read(member)
            if member.filename == "word/document.xml":
                data = data[: len(data) // 2]
            target.writestr(member, data)

    with pytest.raises(UnreadableDocument, match=r"^the DOCX file cannot be read: "):
        _docx(broken)


def test_header_inside_an_article_is_content_but_the_page_header_is_not(tmp_path: Path) -> None:
    path = tmp_path / "headed.html"
    path.write_text(
        "<body><header>Site name</header><article><header><h1>Story title</h1></header>"
        "<p>Story text</p><footer>Share this</footer></article></body>"
    )

    blocks = _html(path).blocks

    assert [(b.kind, b.text, b.locator["path"]) for b in blocks] == [
        ("heading", "Story title", "body/article/header/h1"),
        ("paragraph", "Story text", "body/article/p"),
    ]


def test_line_breaks_in_loose_text_stay_in_one_paragraph(tmp_path: Path) -> None:
    path = tmp_path / "address.html"
    path.write_text("<body><div>1 Quay Street<br>Harbourtown</div></body>")

    blocks = _html(path).blocks

    assert [(b.text, b.locator) for b in blocks] == [
        ("1 Quay Street\nHarbourtown", {"path": "body/div"})
    ]


def test_line_break_in_code_is_one_newline(tmp_path: Path) -> None:
    path = tmp_path / "code.html"
    path.write_text("<body><pre>first<br>second\n  third</pre></body>")

    (block,) = _html(path).blocks

    assert (block.kind, block.text) == ("code", "first\nsecond\n  third")
