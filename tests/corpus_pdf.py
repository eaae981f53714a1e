"""PDFs with a text layer, built with reportlab from known text, for the PDF parser's tests.

Every builder writes into a given folder and returns the path with what was drawn there:
headings, paragraphs (their wrapped lines and where they sit), table cells. Hostile files
(damaged, encrypted, page-bombed) come back with the sentence the parser must raise.
Output is deterministic (`invariant=1`: no dates or random ids in the files).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from reportlab.lib.pagesizes import letter
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen import canvas

PAGE_WIDTH, PAGE_HEIGHT = letter  # 612 x 792 points
MARGIN = 72.0
BODY_FONT, BODY_SIZE, LEADING = "Helvetica", 11.0, 14.0
HEADING_FONT = "Helvetica-Bold"
PARAGRAPH_SPACE = 12.0  # extra space between paragraphs, above the leading


@dataclass(frozen=True)
class Heading:
    page: int
    text: str
    level: int


@dataclass(frozen=True)
class Paragraph:
    """Lines drawn as one paragraph; positions in points from the page's top-left corner."""

    page: int
    lines: list[str]
    x: float
    first_baseline: float
    last_baseline: float
    width: float  # the width the lines were wrapped to

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True)
class TextPdf:
    path: Path
    pages: int
    headings: list[Heading]
    paragraphs: list[Paragraph]
    table: list[list[str]]
    order: list[tuple[str, str, int]]  # (kind, text, page) of each block as drawn


@dataclass(frozen=True)
class HostilePdf:
    path: Path
    message: str  # the UnreadableDocument sentence expected


PAGE_TOPICS = [
    (
        "Harbour Maintenance",
        [
            "The harbour crane was inspected in March and its main cable replaced after "
            "the inspectors found broken strands near the drum.",
            "Dredging of the inner basin will resume once the silt samples come back from "
            "the laboratory with acceptable readings.",
        ],
    ),
    (
        "Orchard Yields",
        [
            "Apple trees on the southern slope gave more fruit than last year because the "
            "late frost spared their blossoms.",
            "Pear trees struggled with scab, and the growers plan to thin the canopy so "
            "that air can move between the branches.",
        ],
    ),
    (
        "Library Opening Hours",
        [
            "The reading room now opens at eight in the morning on weekdays and closes at "
            "nine in the evening except on public holidays.",
            "Members may reserve study carrels for up to four hours a day through the desk "
            "at the main entrance.",
        ],
    ),
]
SUBHEADING = Heading(page=2, text="Notes on Pests", level=2)
# Broken by hand after a hyphen, which must stay in the text as drawn.
HYPHENATED_PAGE = 3
HYPHENATED_LINES = [
    "The committee will publish the revised time-",
    "table for the winter season next week.",
]
BULLET = "\u2022"
# Drawn on page 3 after its paragraphs, with no space between the items.
LIST_ITEMS = [
    "Children under twelve must be accompanied by an adult in the reading room, and they "
    "may borrow picture books from the lower shelves.",
    "Laptops are welcome.",
]
SUBHEADING_PARAGRAPH = (
    "Codling moth traps caught fewer moths this summer, which the growers credit to the "
    "pheromone dispensers hung in May."
)


class _Writer:
    """Draws headings and wrapped paragraphs down a column, remembering what it drew."""

    def __init__(self, pdf: canvas.Canvas, page: int, x: float, width: float) -> None:
        self.pdf, self.page, self.x, self.width = pdf, page, x, width
        self.y = PAGE_HEIGHT - MARGIN  # baseline of the next line, bottom-up
        self.headings: list[Heading] = []
        self.paragraphs: list[Paragraph] = []
        self.order: list[tuple[str, str, int]] = []

    def heading(self, text: str, size: float, level: int) -> None:
        self.y -= size
        self.pdf.setFont(HEADING_FONT, size)
        self.pdf.drawString(self.x, self.y, text)
        self.headings.append(Heading(self.page, text, level))
        self.order.append(("heading", text, self.page))
        self.y -= size * 0.8

    def paragraph(self, text: str) -> None:
        self.lines(simpleSplit(text, BODY_FONT, BODY_SIZE, self.width))

    def list_item(self, text: str) -> None:
        """A bulleted item; its later lines hang right of the bullet, under its text."""
        indent = 12.0
        lines = simpleSplit(text, BODY_FONT, BODY_SIZE, self.width - indent)
        self.pdf.setFont(BODY_FONT, BODY_SIZE)
        self.y -= BODY_SIZE
        for i, line in enumerate(lines):
            if i:
                self.y -= LEADING
            self.pdf.drawString(self.x + indent, self.y, line)
        self.pdf.drawString(self.x, self.y + LEADING * (len(lines) - 1), BULLET)
        self.order.append(("list_item", "\n".join([f"{BULLET} {lines[0]}", *lines[1:]]), self.page))
        self.y -= LEADING - BODY_SIZE

    def lines(self, lines: list[str]) -> None:
        self.pdf.setFont(BODY_FONT, BODY_SIZE)
        self.y -= BODY_SIZE
        first = self.y
        for i, line in enumerate(lines):
            if i:
                self.y -= LEADING
            self.pdf.drawString(self.x, self.y, line)
        drawn = Paragraph(
            self.page, lines, self.x, PAGE_HEIGHT - first, PAGE_HEIGHT - self.y, self.width
        )
        self.paragraphs.append(drawn)
        self.order.append(("paragraph", drawn.text, self.page))
        self.y -= PARAGRAPH_SPACE


def _canvas(path: Path | io.BytesIO, **options: object) -> canvas.Canvas:
    target = str(path) if isinstance(path, Path) else path  # reportlab wants str, not Path
    return canvas.Canvas(target, pagesize=letter, invariant=1, **options)


def one_column(folder: Path) -> TextPdf:
    """Three pages, each a 20pt heading over two paragraphs; page 2 adds a 15pt subheading."""
    path = folder / "one-column.pdf"
    pdf = _canvas(path)
    headings: list[Heading] = []
    paragraphs: list[Paragraph] = []
    order: list[tuple[str, str, int]] = []
    for page, (title, texts) in enumerate(PAGE_TOPICS, start=1):
        writer = _Writer(pdf, page, MARGIN, PAGE_WIDTH - 2 * MARGIN)
        writer.heading(title, 20, level=1)
        for text in texts:
            writer.paragraph(text)
        if page == SUBHEADING.page:
            writer.heading(SUBHEADING.text, 15, level=2)
            writer.paragraph(SUBHEADING_PARAGRAPH)
        if page == HYPHENATED_PAGE:
            writer.lines(HYPHENATED_LINES)
            for item in LIST_ITEMS:
                writer.list_item(item)
        headings += writer.headings
        paragraphs += writer.paragraphs
        order += writer.order
        pdf.showPage()
    pdf.save()
    return TextPdf(path, len(PAGE_TOPICS), headings, paragraphs, [], order)


COLUMN_TITLE = "Field Notes from the Coastal Survey"
LEFT_COLUMN = [
    "Gulls nested on the northern cliffs in larger numbers than the survey recorded in "
    "any earlier season, mostly on the sheltered ledges.",
    "Seals hauled out on the sandbar at low tide, and the team counted pups from the "
    "dunes without disturbing the colony.",
]
RIGHT_COLUMN = [
    "Eelgrass meadows in the lagoon have spread eastward, which suggests that the water "
    "there has become clearer since the outfall closed.",
    "Volunteers cleared nets and ropes from the strand line and sorted them for "
    "recycling at the depot in town.",
]


def two_columns(folder: Path) -> TextPdf:
    """A title across the page, then two columns of two paragraphs each."""
    path = folder / "two-columns.pdf"
    pdf = _canvas(path)
    gutter = 24.0
    width = (PAGE_WIDTH - 2 * MARGIN - gutter) / 2
    title = _Writer(pdf, 1, MARGIN, PAGE_WIDTH - 2 * MARGIN)
    title.heading(COLUMN_TITLE, 18, level=1)
    left = _Writer(pdf, 1, MARGIN, width)
    right = _Writer(pdf, 1, MARGIN + width + gutter, width)
    left.y = right.y = title.y - 6
    for writer, texts in ((left, LEFT_COLUMN), (right, RIGHT_COLUMN)):
        for text in texts:
            writer.paragraph(text)
    pdf.showPage()
    pdf.save()
    order = title.order + left.order + right.order
    return TextPdf(path, 1, title.headings, left.paragraphs + right.paragraphs, [], order)


THREE_COLUMN_INTRO = (
    "This newsletter reports on the work of the three committees that met during the "
    "autumn, each in its own column below."
)
THREE_COLUMNS = [
    [
        "The roads committee agreed to resurface the lane behind the school before the "
        "rains arrive in November.",
        "Residents asked for a crossing near the bakery.",
    ],
    [
        "The parks committee planted forty young oaks along the river path and will water "
        "them through the first summer.",
        "Volunteers are needed on Saturdays.",
    ],
    [
        "The finance committee approved the budget for next year with a small reserve for "
        "repairs to the community hall roof.",
        "The accounts are open to any member.",
    ],
]


def three_columns(folder: Path) -> TextPdf:
    """A full-width paragraph, then three columns whose baselines do not line up."""
    path = folder / "three-columns.pdf"
    pdf = _canvas(path)
    gutter = 18.0
    width = (PAGE_WIDTH - 2 * MARGIN - 2 * gutter) / 3
    intro = _Writer(pdf, 1, MARGIN, PAGE_WIDTH - 2 * MARGIN)
    intro.paragraph(THREE_COLUMN_INTRO)
    order, paragraphs = list(intro.order), list(intro.paragraphs)
    for k, texts in enumerate(THREE_COLUMNS):
        column = _Writer(pdf, 1, MARGIN + k * (width + gutter), width)
        column.y = intro.y - 4 * k  # each column starts a little lower than the last
        for text in texts:
            column.paragraph(text)
        order += column.order
        paragraphs += column.paragraphs
    pdf.showPage()
    pdf.save()
    return TextPdf(path, 1, [], paragraphs, [], order)


TABLE_TITLE = "Station Readings"
TABLE_INTRO = "The table below lists the oxygen readings taken at three river stations."
TABLE_OUTRO = "Readings below five milligrams per litre call for a second sample."
TABLE = [
    ["Station", "Oxygen", "Temperature"],
    ["Upper weir", "8.1", "14.2"],
    ["Mill race", "4.7", "16.9"],
    ["Estuary", "7.3", "15.5"],
]


def table_page(folder: Path) -> TextPdf:
    """A heading, a paragraph, a ruled grid of 3 columns x 4 rows, a closing paragraph."""
    path = folder / "table.pdf"
    pdf = _canvas(path)
    writer = _Writer(pdf, 1, MARGIN, PAGE_WIDTH - 2 * MARGIN)
    writer.heading(TABLE_TITLE, 20, level=1)
    writer.paragraph(TABLE_INTRO)
    columns = [MARGIN, MARGIN + 160, MARGIN + 320]
    row_height = 20.0
    top = writer.y
    pdf.grid([*columns, MARGIN + 468], [top - row_height * i for i in range(len(TABLE) + 1)])
    pdf.setFont(BODY_FONT, BODY_SIZE)
    for i, cells in enumerate(TABLE):
        baseline = top - row_height * i - 14
        for x, cell in zip(columns, cells, strict=True):
            pdf.drawString(x + 6, baseline, cell)
    writer.y = top - row_height * len(TABLE) - PARAGRAPH_SPACE
    table_text = "\n".join("\t".join(cells) for cells in TABLE)
    writer.order.append(("table", table_text, 1))
    writer.paragraph(TABLE_OUTRO)
    pdf.showPage()
    pdf.save()
    return TextPdf(path, 1, writer.headings, writer.paragraphs, TABLE, writer.order)


SHOWN_TEXT = (
    "Tide tables for the coming month are printed on the back of this sheet, with the "
    "times given in local standard time."
)


def turned_page(folder: Path) -> TextPdf:
    """A page turned a quarter by /Rotate 90, its content drawn turned back: upright on screen."""
    path = folder / "turned.pdf"
    pdf = _canvas(path)
    pdf.setPageRotation(90)
    pdf.rotate(90)  # in this frame, (x, -y) lands at x, y from the shown page's top-left
    lines = simpleSplit(SHOWN_TEXT, BODY_FONT, BODY_SIZE, PAGE_WIDTH - 2 * MARGIN)
    pdf.setFont(BODY_FONT, BODY_SIZE)
    first = MARGIN + BODY_SIZE
    for i, line in enumerate(lines):
        pdf.drawString(MARGIN, -(first + i * LEADING), line)
    pdf.showPage()
    pdf.save()
    last = first + (len(lines) - 1) * LEADING
    drawn = Paragraph(1, lines, MARGIN, first, last, PAGE_WIDTH - 2 * MARGIN)
    return TextPdf(path, 1, [], [drawn], [], [("paragraph", drawn.text, 1)])


CROP_OFFSET = (50.0, 100.0)  # the crop box's left and bottom inside the media box


def cropped_page(folder: Path) -> TextPdf:
    """A page whose crop box starts inside the media box: locators count from the crop."""
    path = folder / "cropped.pdf"
    left, bottom = CROP_OFFSET
    pdf = _canvas(path, cropBox=(left, bottom, left + PAGE_WIDTH, bottom + PAGE_HEIGHT))
    pdf.translate(left, bottom)
    writer = _Writer(pdf, 1, MARGIN, PAGE_WIDTH - 2 * MARGIN)
    writer.paragraph(SHOWN_TEXT)
    pdf.showPage()
    pdf.save()
    return TextPdf(path, 1, [], writer.paragraphs, [], writer.order)


# Pieces of one line: (text, font size, rise); a footnote mark raised, a subscript lowered.
SCRIPTED_LINE = [
    ("Sea water freezes below zero", BODY_SIZE, 0.0),
    ("1", 7.0, 4.0),
    (" because the salt in it, mostly NaCl and MgCl", BODY_SIZE, 0.0),
    ("2", 7.0, -2.0),
    (", lowers the point.", BODY_SIZE, 0.0),
]
SCRIPTED_NEXT_LINE = "The harbour therefore rarely ices over."


def scripted_line(folder: Path) -> TextPdf:
    """A paragraph whose first line carries a superscript and a subscript."""
    path = folder / "scripts.pdf"
    pdf = _canvas(path)
    first = MARGIN + BODY_SIZE
    text = pdf.beginText(MARGIN, PAGE_HEIGHT - first)
    for piece, size, rise in SCRIPTED_LINE:
        text.setFont(BODY_FONT, size)
        text.setRise(rise)
        text.textOut(piece)
    pdf.drawText(text)
    pdf.setFont(BODY_FONT, BODY_SIZE)
    pdf.drawString(MARGIN, PAGE_HEIGHT - first - LEADING, SCRIPTED_NEXT_LINE)
    pdf.showPage()
    pdf.save()
    lines = ["".join(piece for piece, _, _ in SCRIPTED_LINE), SCRIPTED_NEXT_LINE]
    drawn = Paragraph(1, lines, MARGIN, first, first + LEADING, PAGE_WIDTH - 2 * MARGIN)
    return TextPdf(path, 1, [], [drawn], [], [("paragraph", drawn.text, 1)])


def blank_page(folder: Path) -> Path:
    """One page with nothing on it: no text layer at all."""
    path = folder / "blank.pdf"
    pdf = _canvas(path)
    pdf.showPage()
    pdf.save()
    return path


def truncated(folder: Path) -> HostilePdf:
    """A valid PDF's first half: no cross-reference table, no trailer, no page tree."""
    whole = io.BytesIO()
    pdf = _canvas(whole)
    pdf.setFont(BODY_FONT, BODY_SIZE)
    pdf.drawString(MARGIN, PAGE_HEIGHT - MARGIN, "This document was cut short in transit.")
    pdf.showPage()
    pdf.save()
    data = whole.getvalue()
    path = folder / "truncated.pdf"
    path.write_bytes(data[: len(data) // 2])
    return HostilePdf(path, "the PDF cannot be read: the file is not a PDF or is damaged")


def encrypted(folder: Path) -> HostilePdf:
    """Encrypted with a user password: it cannot be opened without it."""
    path = folder / "encrypted.pdf"
    pdf = _canvas(path, encrypt="secret-password")
    pdf.setFont(BODY_FONT, BODY_SIZE)
    pdf.drawString(MARGIN, PAGE_HEIGHT - MARGIN, "Only readers with the password see this.")
    pdf.showPage()
    pdf.save()
    return HostilePdf(path, "the PDF is encrypted")


def restricted(folder: Path) -> TextPdf:
    """Encrypted with an owner password only: anyone may open it, printing is refused."""
    path = folder / "restricted.pdf"
    encryption = StandardEncryption("", ownerPassword="owner-password", canPrint=0)
    pdf = _canvas(path, encrypt=encryption)
    writer = _Writer(pdf, 1, MARGIN, PAGE_WIDTH - 2 * MARGIN)
    writer.paragraph(SHOWN_TEXT)
    pdf.showPage()
    pdf.save()
    return TextPdf(path, 1, [], writer.paragraphs, [], writer.order)


def not_a_pdf(folder: Path) -> HostilePdf:
    path = folder / "notes.pdf"
    path.write_bytes(b"These are plain notes saved with the wrong extension.\n" * 20)
    return HostilePdf(path, "the PDF cannot be read: the file is not a PDF or is damaged")


def _raw_pdf(pages_dictionary: bytes, with_page: bool) -> bytes:
    """A minimal PDF written by hand, with a correct cross-reference table."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", pages_dictionary]
    if with_page:
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def page_bomb(folder: Path, limit: int) -> HostilePdf:
    """One real page under a page tree that declares 100,000."""
    path = folder / "page-bomb.pdf"
    path.write_bytes(_raw_pdf(b"<< /Type /Pages /Kids [3 0 R] /Count 100000 >>", True))
    return HostilePdf(path, f"the PDF has 100000 pages; the limit is {limit}")


def no_pages(folder: Path) -> HostilePdf:
    """A page tree with no pages: pdfium refuses to load it at all, as a damaged file."""
    path = folder / "no-pages.pdf"
    path.write_bytes(_raw_pdf(b"<< /Type /Pages /Kids [] /Count 0 >>", False))
    return HostilePdf(path, "the PDF cannot be read: the file is not a PDF or is damaged")


def broken_page(folder: Path) -> HostilePdf:
    """A page tree whose one kid is the catalog, not a page: the file opens, the page not."""
    path = folder / "broken-page.pdf"
    path.write_bytes(_raw_pdf(b"<< /Type /Pages /Kids [1 0 R] /Count 1 >>", False))
    return HostilePdf(path, "the PDF cannot be read: a page is damaged")
