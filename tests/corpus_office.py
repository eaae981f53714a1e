"""HTML pages and Word documents built from known text, for the HTML and DOCX parsers' tests.

Each writer saves one file under a directory it is given and returns what a parser should
make of it: a `Written` with the blocks expected (kinds, levels, locators, texts), or a
`Hostile` with the sentence of the `UnreadableDocument` it should raise.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import docx
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.text.paragraph import CT_P

from jejakekal.adapters.html import MAX_DEPTH
from jejakekal.domain.extraction import ExtractedBlock

MIB = 1024 * 1024
DEEP_NESTING = 10_000
BOMB_MIB = 300  # zeros that deflate to about 300 KB: over the default 256 MiB limit

# Text in the boilerplate around the article: none of it may reach a block.
BOILERPLATE = [
    "Harbour Gazette home",
    "News menu",
    "Weather menu",
    "We use cookies",
    "Most read this week",
    "trackVisit",
    "font-family",
    "Enable JavaScript",
    "Subscribe to the newsletter",
    "Copyright Harbour Gazette",
    "Decorative duplicate",
    "Banner hidden by style",
]


@dataclass(frozen=True)
class Written:
    path: Path
    blocks: list[ExtractedBlock]  # what the parser should return, in order

    @property
    def texts(self) -> list[str]:
        return [block.text for block in self.blocks]


@dataclass(frozen=True)
class Hostile:
    path: Path
    message: str  # the UnreadableDocument's sentence (a prefix where the rest is zipfile's)


def _html(kind: str, text: str, path: str, level: int | None = None) -> ExtractedBlock:
    return ExtractedBlock(kind=kind, text=text, locator={"path": path}, level=level)


ARTICLE_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Tides of the northern harbour</title>
  <style>body { font-family: serif; }</style>
  <script>function trackVisit() { return 1; }</script>
</head>
<body>
  <header><a href="/">Harbour Gazette home</a></header>
  <nav><ul>
    <li><a href="/news">News menu</a></li><li><a href="/weather">Weather menu</a></li>
  </ul></nav>
  <div class="cookie-banner" hidden><p>We use cookies to follow you around.</p></div>
  <div class="layout">
    <aside><h3>Most read this week</h3></aside>
    <noscript>Enable JavaScript for the full site.</noscript>
    <main>
      <h1>Tides of the   northern harbour</h1>
      <p>The harbour at Øresund sees two high tides a day.</p>
      <h2>Measurements</h2>
      <p>Readings were taken <em>every hour</em>
         for a whole year.</p>
      <ul>
        <li>Spring tide: 4.2 m</li>
        <li>Neap tide: 2.1 m</li>
      </ul>
      <table>
        <tr><th>Month</th><th>High water</th></tr>
        <tr><td>March</td><td>4.2 m</td></tr>
      </table>
      <p aria-hidden="true">Decorative duplicate</p>
      <div style="display: none">Banner hidden by style</div>
      <form><label>Subscribe to the newsletter <input name="email"></label></form>
      <script>trackVisit();</script>
    </main>
  </div>
  <footer><p>Copyright Harbour Gazette</p></footer>
</body>
</html>
"""


def write_article_page(directory: Path) -> Written:
    """An article in `<main>` inside boilerplate: menus, banner, sidebar, scripts, footer."""
    path = directory / "article.html"
    path.write_text(ARTICLE_PAGE, encoding="utf-8")
    main = "body/div[2]/main"  # the hidden cookie banner is the first div
    return Written(
        path,
        [
            _html("heading", "Tides of the northern harbour", f"{main}/h1", 1),
            _html("paragraph", "The harbour at Øresund sees two high tides a day.", f"{main}/p[1]"),
            _html("heading", "Measurements", f"{main}/h2", 2),
            _html("paragraph", "Readings were taken every hour for a whole year.", f"{main}/p[2]"),
            _html("list_item", "Spring tide: 4.2 m", f"{main}/ul/li[1]"),
            _html("list_item", "Neap tide: 2.1 m", f"{main}/ul/li[2]"),
            _html("table", "Month\tHigh water\nMarch\t4.2 m", f"{main}/table"),
        ],
    )


PLAIN_PAGE = """<html><body>
<nav>Site menu</nav>
<div id="content">
  <h1>Field notes</h1>
  Loose text <b>straight</b> in a div.
  <p>A paragraph of its own.</p>
  <pre>def tide(hour):
    return hour % 12</pre>
  <blockquote><p>The sea is patient.</p><p>So is the harbour master.</p></blockquote>
  <ul><li>Outer item<ul><li>Inner item</li></ul></li></ul>
  Closing words.
</div>
</body></html>
"""


def write_plain_page(directory: Path) -> Written:
    """A page without `<main>` or `<article>`: the content root is `<body>`."""
    path = directory / "plain.html"
    path.write_text(PLAIN_PAGE, encoding="utf-8")
    div = "body/div"
    return Written(
        path,
        [
            _html("heading", "Field notes", f"{div}/h1", 1),
            _html("paragraph", "Loose text straight in a div.", div),
            _html("paragraph", "A paragraph of its own.", f"{div}/p"),
            _html("code", "def tide(hour):\n    return hour % 12", f"{div}/pre"),
            _html("quote", "The sea is patient.\nSo is the harbour master.", f"{div}/blockquote"),
            _html("list_item", "Outer item", f"{div}/ul/li"),
            _html("list_item", "Inner item", f"{div}/ul/li/ul/li"),
            _html("paragraph", "Closing words.", div),
        ],
    )


def write_declared_charset_page(directory: Path) -> Written:
    """A windows-1252 page that says so in `<meta charset>`: bytes that are not UTF-8."""
    path = directory / "latin.html"
    page = '<html><head><meta charset="windows-1252"></head><body><p>Café crème</p></body></html>'
    path.write_bytes(page.encode("cp1252"))
    return Written(path, [_html("paragraph", "Café crème", "body/p")])


def write_deep_page(directory: Path) -> Written:
    """Text nested `DEEP_NESTING` divs deep, then a paragraph after them."""
    path = directory / "deep.html"
    nested = "<div>" * DEEP_NESTING + "Deep text" + "</div>" * DEEP_NESTING
    path.write_text(f"<html><body>{nested}<p>After the deep part</p></body></html>")
    deepest_with_a_path = "body" + "/div" * MAX_DEPTH
    return Written(
        path,
        [
            _html("paragraph", "Deep text", deepest_with_a_path),
            _html("paragraph", "After the deep part", "body/p"),
        ],
    )


def write_textless_page(directory: Path) -> Hostile:
    path = directory / "empty.html"
    path.write_text("<html><body><nav>Menu</nav><script>run()</script>  </body></html>")
    return Hostile(path, "the HTML page has no text content")


def _docx(kind: str, text: str, paragraph: int, level: int | None = None) -> ExtractedBlock:
    return ExtractedBlock(kind=kind, text=text, locator={"paragraph": paragraph}, level=level)


def write_report_docx(directory: Path) -> Written:
    """A Title, Heading 1/2/9, paragraphs, bullets, a numPr-numbered paragraph, a table."""
    path = directory / "report.docx"
    document = docx.Document()
    document.add_heading("Harbour report", level=0)  # style "Title"
    document.add_paragraph("Prepared for the harbour board.")
    document.add_heading("Findings", level=1)
    document.add_paragraph("Tides rose by a tenth.\tSee the table.")
    document.add_paragraph("")  # dropped, but it still counts as paragraph 4
    document.add_heading("Details", level=2)
    document.add_paragraph("First finding", style="List Bullet")
    document.add_paragraph("Second finding", style="List Bullet")
    numbered = document.add_paragraph("Numbered by numPr alone")
    _number(numbered._p)
    table = document.add_table(rows=3, cols=3)
    for row, values in enumerate([["Month", "Low", "High"], ["March", "0.4", "4.2"]]):
        for column, value in enumerate(values):
            table.cell(row, column).text = value
    merged = table.cell(2, 0).merge(table.cell(2, 1))
    merged.text = "Year"
    table.cell(2, 2).text = "4.4"
    document.add_heading("Appendix", level=9)
    document.add_paragraph("Closing remark.")
    document.save(str(path))
    return Written(
        path,
        [
            _docx("heading", "Harbour report", 0, 1),
            _docx("paragraph", "Prepared for the harbour board.", 1),
            _docx("heading", "Findings", 2, 1),
            _docx("paragraph", "Tides rose by a tenth. See the table.", 3),
            _docx("heading", "Details", 5, 2),
            _docx("list_item", "First finding", 6),
            _docx("list_item", "Second finding", 7),
            _docx("list_item", "Numbered by numPr alone", 8),
            ExtractedBlock(
                kind="table",
                text="Month\tLow\tHigh\nMarch\t0.4\t4.2\nYear\t4.4",
                locator={"table": 0},
            ),
            _docx("heading", "Appendix", 9, 6),
            _docx("paragraph", "Closing remark.", 10),
        ],
    )


def _number(paragraph: CT_P) -> None:
    """Give a Normal paragraph list numbering directly (`w:numPr`), as Word's lists do."""
    ppr = paragraph.get_or_add_pPr()
    num_pr = OxmlElement("w:numPr")
    for name, value in (("w:ilvl", "0"), ("w:numId", "1")):
        child = OxmlElement(name)
        child.set(qn("w:val"), value)
        num_pr.append(child)
    ppr.append(num_pr)


def write_textless_docx(directory: Path) -> Hostile:
    path = directory / "blank.docx"
    document = docx.Document()
    document.add_paragraph("   ")
    document.add_table(rows=2, cols=2)
    document.save(str(path))
    return Hostile(path, "the Word document has no text")


def write_zip_bomb(directory: Path) -> Hostile:
    """A zip with word/document.xml and `BOMB_MIB` MiB of zeros, streamed in 1 MiB chunks."""
    path = directory / "bomb.docx"
    chunk = bytes(MIB)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", "<w:document/>")
        with archive.open("word/media/zeros.bin", "w", force_zip64=True) as member:
            for _ in range(BOMB_MIB):
                member.write(chunk)
    return Hostile(path, "the DOCX file unpacks to more than 256 MiB; refusing it (zip bomb?)")


def write_dense_member_docx(directory: Path) -> Hostile:
    """A small zip whose one 4 MiB member of zeros is compressed about 1000 to 1."""
    path = directory / "dense.docx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", "<w:document/>")
        archive.writestr("word/media/zeros.bin", bytes(4 * MIB))
    return Hostile(
        path, "the DOCX file holds a member compressed more than 200 to 1; refusing it (zip bomb?)"
    )


def write_plain_zip(directory: Path) -> Hostile:
    path = directory / "notes.docx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("notes.txt", "not a Word document")
    return Hostile(path, "the file is a zip archive but not a Word document")


def write_truncated_docx(directory: Path) -> Hostile:
    """A real DOCX cut in half: its zip directory, at the end, is gone."""
    path = directory / "truncated.docx"
    written = write_report_docx(directory)
    data = written.path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return Hostile(path, "the DOCX file cannot be read: ")


def write_text_as_docx(directory: Path) -> Hostile:
    path = directory / "text.docx"
    path.write_text("Just some text with a .docx name.\n")
    return Hostile(path, "the DOCX file cannot be read: File is not a zip file")
