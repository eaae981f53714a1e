"""The pure document pipeline: docir, chunk index and memo, with their invariants."""

from __future__ import annotations

import copy
import json
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jejakekal.adapters.parsers import MarkdownParser, TextParser, parser_for
from jejakekal.domain.documents import (
    CHUNK_INDEX_SCHEMA,
    DOCIR_SCHEMA,
    MEMO_SCHEMA,
    DocumentInvariantError,
    block_id,
    build_chunk_index,
    build_docir,
    canonical_bytes,
    canonical_text,
    check_docir,
    chunk_text,
    heading_title,
    sha256_hex,
)
from jejakekal.domain.memo import build_memo, verify_memo
from jejakekal.domain.ports import BlockSpan, DocumentParser

RAW = "0" * 64


def docir_of(source: str, fmt: str = "text") -> dict[str, Any]:
    return build_docir(source, parser_for(fmt), run_id="run-1", raw_sha256=RAW)


def texts(docir: dict[str, Any]) -> list[str]:
    return [docir["text"][b["start"] : b["end"]] for b in docir["blocks"]]


def pipeline(
    source: str, fmt: str = "text", max_chars: int = 800
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    docir = docir_of(source, fmt)
    docir_sha = sha256_hex(canonical_bytes(docir))
    index = build_chunk_index(docir, run_id="run-1", docir_sha256=docir_sha, max_chars=max_chars)
    memo = build_memo(
        docir,
        index,
        run_id="run-1",
        docir_sha256=docir_sha,
        chunk_index_sha256=sha256_hex(canonical_bytes(index)),
    )
    return docir, index, memo


# --- canonical forms -------------------------------------------------------------


def test_canonical_text_turns_crlf_and_lone_cr_into_newlines_only() -> None:
    assert canonical_text("a\r\nb\rc\r\r\nd\n") == "a\nb\nc\n\nd\n"
    assert canonical_text("tab\tline\u2028sep\x85 é") == "tab\tline\u2028sep\x85 é"


def test_canonical_bytes_sort_keys_keep_utf8_and_ints() -> None:
    body = {"b": 1, "a": {"z": "日本", "y": 2.5}, "c": [3, None, True]}
    assert canonical_bytes(body) == '{"a":{"y":2.5,"z":"日本"},"b":1,"c":[3,null,true]}'.encode()


def test_canonical_bytes_refuses_nan() -> None:
    with pytest.raises(ValueError):
        canonical_bytes({"x": float("nan")})


# --- docir: text parser --------------------------------------------------------------


def test_text_parser_makes_one_paragraph_per_non_blank_line_kept_exactly() -> None:
    docir = docir_of("  first line  \n\n \t \nsecond\n")
    assert texts(docir) == ["  first line  ", "second"]
    assert [b["kind"] for b in docir["blocks"]] == ["paragraph", "paragraph"]
    assert [b["locator"] for b in docir["blocks"]] == [{"lines": [1, 1]}, {"lines": [4, 4]}]
    assert [b["order"] for b in docir["blocks"]] == [0, 1]


def test_docir_body_carries_schema_provenance_and_statements() -> None:
    docir = docir_of("hello\n")
    assert docir["schema"] == DOCIR_SCHEMA
    assert docir["producer"] == {"step": "side-effect", "name": "parser:text", "version": "1"}
    assert docir["inputs"] == [{"type": "raw", "sha256": RAW}]
    assert docir["params_sha256"] == sha256_hex(canonical_bytes(docir["params"]))
    assert docir["newline"] == "\n"
    assert docir["offsets"] == "code points into text"
    assert docir["text_sha256"] == sha256_hex(b"hello\n")


def test_crlf_source_gives_the_same_docir_as_lf_source() -> None:
    crlf, lf = docir_of("a b\r\n\r\nc d\r"), docir_of("a b\n\nc d\n")
    assert canonical_bytes(crlf) == canonical_bytes(lf)


def test_offsets_are_code_points_for_emoji_cjk_and_combining_marks() -> None:
    source = "😀 smile\n日本語の文\ne\u0301te\u0301 [low]\n"
    docir = docir_of(source)
    assert texts(docir) == ["😀 smile", "日本語の文", "e\u0301te\u0301 [low]"]
    assert [(b["start"], b["end"]) for b in docir["blocks"]] == [(0, 7), (8, 13), (14, 25)]


def test_low_mark_lowers_confidence_and_requires_ocr() -> None:
    docir = docir_of("clear line\nsmudged [low] line\n")
    first, second = docir["blocks"]
    assert (first["confidence"], second["confidence"]) == (1.0, 0.3)
    assert docir["ocr_required"] is True
    assert docir["low_confidence_blocks"] == [second["block_id"]]


def test_document_without_low_mark_needs_no_ocr() -> None:
    docir = docir_of("all clear\n")
    assert docir["ocr_required"] is False
    assert docir["low_confidence_blocks"] == []


def test_low_mark_on_any_line_of_a_markdown_block_lowers_the_block() -> None:
    docir = docir_of("para starts\ncontinues [low]\n\nother\n", "markdown")
    assert [b["confidence"] for b in docir["blocks"]] == [0.3, 1.0]


def test_block_ids_are_derived_from_text_hash_kind_and_span() -> None:
    a, b = docir_of("one\ntwo\n"), docir_of("one\ntwo\n")
    assert [x["block_id"] for x in a["blocks"]] == [x["block_id"] for x in b["blocks"]]
    first = a["blocks"][0]
    assert first["block_id"] == block_id(a["text_sha256"], "paragraph", 0, 3)
    assert first["block_id"].startswith("b-") and len(first["block_id"]) == 18
    other = docir_of("one\ntwo!\n")
    assert other["blocks"][0]["block_id"] != first["block_id"]


# --- docir: markdown parser ----------------------------------------------------------

MARKDOWN = """# Title

Intro paragraph.
goes on

- item one
- item two

> quoted words

```py
print(1)
```

| a | b |
|---|---|
| 1 | 2 |

<div>
x
</div>

---
Setext head
-----------

    indented code
> - listed in a quote
"""


def test_markdown_blocks_get_kinds_levels_and_whole_line_spans() -> None:
    docir = docir_of(MARKDOWN, "markdown")
    got = [(b["kind"], b["level"], t) for b, t in zip(docir["blocks"], texts(docir), strict=True)]
    assert got == [
        ("heading", 1, "# Title"),
        ("paragraph", None, "Intro paragraph.\ngoes on"),
        ("list_item", None, "- item one"),
        ("list_item", None, "- item two"),
        ("quote", None, "> quoted words"),
        ("code", None, "```py\nprint(1)\n```"),
        ("table", None, "| a | b |\n|---|---|\n| 1 | 2 |"),
        ("html", None, "<div>\nx\n</div>"),
        ("hr", None, "---"),
        ("heading", 2, "Setext head\n-----------"),
        ("code", None, "    indented code"),
        ("list_item", None, "> - listed in a quote"),
    ]
    assert docir["format"] == "markdown"
    assert docir["producer"]["name"] == "parser:markdown"


def test_markdown_emits_leaves_only_for_list_items_with_several_paragraphs() -> None:
    docir = docir_of("- first\n\n  second of the same item\n- third\n", "markdown")
    assert texts(docir) == ["- first", "  second of the same item", "- third"]
    assert {b["kind"] for b in docir["blocks"]} == {"list_item"}
    assert all(b["parent_id"] is None for b in docir["blocks"])


def test_markdown_block_never_ends_in_newline_even_for_an_unclosed_fence() -> None:
    docir = docir_of("```\ncode\n\n\n", "markdown")
    assert texts(docir) == ["```\ncode"]


def test_markdown_locator_counts_lines_from_one() -> None:
    docir = docir_of("\n\n# Head\n\nbody\nmore\n", "markdown")
    assert [b["locator"]["lines"] for b in docir["blocks"]] == [[3, 3], [5, 6]]


@pytest.mark.parametrize(
    ("block", "title"),
    [
        ("# Title", "Title"),
        ("### Closed ###", "Closed"),
        ("Setext\n======", "Setext"),
        ("> - ## Nested", "Nested"),
        ("#", ""),
        ("# C# rocks", "C# rocks"),
    ],
)
def test_heading_title_drops_markup(block: str, title: str) -> None:
    assert heading_title(block) == title


def test_parser_for_names_the_two_formats() -> None:
    assert isinstance(parser_for("text"), TextParser)
    assert isinstance(parser_for("markdown"), MarkdownParser)
    with pytest.raises(ValueError):
        parser_for("pdf")


# --- check_docir ---------------------------------------------------------------------


class FixedParser:
    """A parser that returns whatever spans it is given, to feed check_docir bad blocks."""

    name = "parser:fixed"
    version = "1"
    format = "text"

    def __init__(self, *spans: tuple[int, int]) -> None:
        self.spans = spans

    def blocks(self, text: str) -> list[BlockSpan]:
        return [BlockSpan("paragraph", start, end) for start, end in self.spans]


@pytest.mark.parametrize(
    "spans",
    [((0, 3), (2, 5)), ((4, 7), (0, 3)), ((0, 99),), ((3, 3),), ((0, 4),), ((-1, 2),)],
    ids=["overlap", "unsorted", "out-of-bounds", "empty", "ends-in-newline", "negative"],
)
def test_build_docir_refuses_spans_that_break_the_invariant(spans: tuple[tuple[int, int]]) -> None:
    parser: DocumentParser = FixedParser(*spans)
    with pytest.raises(DocumentInvariantError):
        build_docir("abc\ndef\n", parser, run_id="r", raw_sha256=RAW)


def _tamper(docir: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    bad = copy.deepcopy(docir)
    *keys, last = path.split(".")
    node: Any = bad
    for key in keys:
        node = node[int(key)] if key.isdigit() else node[key]
    node[last] = value
    return bad


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("text", "abd\ndef [low]\n"),
        ("text_sha256", "0" * 64),
        ("blocks.0.block_id", "b-0000000000000000"),
        ("blocks.0.start", True),
        ("blocks.0.end", 2),
        ("blocks.1.order", 0),
        ("blocks.1.locator", {"lines": [1, 1]}),
        ("blocks.1.confidence", 1.5),
        ("blocks.0.level", 1),
        ("blocks.0.parent_id", "b-missing"),
        ("ocr_required", False),
        ("low_confidence_blocks", []),
        ("newline", "\r\n"),
    ],
)
def test_check_docir_catches_each_tampered_field(path: str, value: Any) -> None:
    docir = docir_of("abc\ndef [low]\n")
    check_docir(docir)
    with pytest.raises(DocumentInvariantError):
        check_docir(_tamper(docir, path, value))


def test_docir_canonical_bytes_are_identical_across_builds() -> None:
    assert canonical_bytes(docir_of(MARKDOWN, "markdown")) == canonical_bytes(
        docir_of(MARKDOWN, "markdown")
    )


# --- chunk index ---------------------------------------------------------------------


def test_chunks_pack_consecutive_blocks_up_to_max_chars() -> None:
    docir = docir_of("aaaa\nbbbb\ncccc\ndddd\n")
    index = build_chunk_index(docir, run_id="r", docir_sha256="d", max_chars=9)
    assert [chunk_text(docir, c) for c in index["chunks"]] == ["aaaa\nbbbb", "cccc\ndddd"]
    assert [len(c["block_ids"]) for c in index["chunks"]] == [2, 2]
    assert index["schema"] == CHUNK_INDEX_SCHEMA
    assert index["chunker"] == {
        "name": "block-pack",
        "version": "1",
        "params": {"max_chars": 9, "overlap": 0, "boundary": "block"},
    }
    assert index["inputs"] == [{"type": "docir", "sha256": "d"}]


def test_chunks_link_prev_and_next_and_hash_their_text() -> None:
    docir = docir_of("one\ntwo\nsix\n")
    chunks = build_chunk_index(docir, run_id="r", docir_sha256="d", max_chars=3)["chunks"]
    ids = [c["chunk_id"] for c in chunks]
    assert [c["prev_id"] for c in chunks] == [None, *ids[:-1]]
    assert [c["next_id"] for c in chunks] == [*ids[1:], None]
    assert [c["ord"] for c in chunks] == [0, 1, 2]
    for chunk in chunks:
        assert chunk["text_sha256"] == sha256_hex(chunk_text(docir, chunk).encode())


def test_long_block_is_split_after_whitespace_near_the_limit() -> None:
    docir = docir_of("alpha beta gamma delta epsilon")
    chunks = build_chunk_index(docir, run_id="r", docir_sha256="d", max_chars=12)["chunks"]
    pieces = [chunk_text(docir, c) for c in chunks]
    assert pieces == ["alpha beta ", "gamma delta ", "epsilon"]
    assert all(c["block_ids"] == [docir["blocks"][0]["block_id"]] for c in chunks)


def test_split_without_whitespace_keeps_combining_marks_with_their_base() -> None:
    docir = docir_of("ab" + "e\u0301" * 5)
    chunks = build_chunk_index(docir, run_id="r", docir_sha256="d", max_chars=3)["chunks"]
    pieces = [chunk_text(docir, c) for c in chunks]
    assert "".join(pieces) == docir["text"]
    assert all(len(p) <= 3 and not p.startswith("\u0301") for p in pieces)


def test_heading_path_follows_markdown_heading_levels() -> None:
    source = "# A\n\npara a\n\n## B\n\npara b\n\n# C\n\npara c\n"
    docir = docir_of(source, "markdown")
    chunks = build_chunk_index(docir, run_id="r", docir_sha256="d", max_chars=6)["chunks"]
    paths = {chunk_text(docir, c): c["heading_path"] for c in chunks}
    assert paths["para a"] == ["A"]
    assert paths["## B"] == ["A", "B"]
    assert paths["para b"] == ["A", "B"]
    assert paths["para c"] == ["C"]


def test_heading_path_is_empty_for_plain_text() -> None:
    docir = docir_of("# not a heading here\n")
    assert build_chunk_index(docir, run_id="r", docir_sha256="d")["chunks"][0]["heading_path"] == []


def test_chunk_confidence_is_the_lowest_of_its_blocks() -> None:
    docir = docir_of("fine\nblurred [low]\n")
    (chunk,) = build_chunk_index(docir, run_id="r", docir_sha256="d")["chunks"]
    assert chunk["confidence"] == 0.3


def test_chunk_ids_depend_on_the_text_and_span() -> None:
    a = build_chunk_index(docir_of("same words\n"), run_id="r1", docir_sha256="x")
    b = build_chunk_index(docir_of("same words\n"), run_id="r2", docir_sha256="y")
    c = build_chunk_index(docir_of("same words!\n"), run_id="r1", docir_sha256="x")
    assert a["chunks"][0]["chunk_id"] == b["chunks"][0]["chunk_id"]
    assert a["chunks"][0]["chunk_id"] != c["chunks"][0]["chunk_id"]


def test_max_chars_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        build_chunk_index(docir_of("x\n"), run_id="r", docir_sha256="d", max_chars=0)


# --- memo ----------------------------------------------------------------------------


def test_memo_quotes_the_first_sentence_of_each_prose_block() -> None:
    source = "# Report\n\nSales rose. Costs fell.\n\n- Margin grew! Really\n\n> Why? Unknown.\n"
    docir, _, memo = pipeline(source, "markdown")
    assert memo["text"] == "- Sales rose.\n- Margin grew!\n- Why?\n"
    assert [c["claim_id"] for c in memo["claims"]] == ["k-1", "k-2", "k-3"]
    for claim in memo["claims"]:
        (citation,) = claim["citations"]
        assert memo["text"][claim["start"] : claim["end"]] == citation["quote"]
        assert docir["text"][citation["start"] : citation["end"]] == citation["quote"]
    assert memo["verification"]["overall"] == "verified"
    assert memo["schema"] == MEMO_SCHEMA
    assert memo["generator"] == "extractive"
    assert memo["producer"] == {"step": "side-effect", "name": "memo:extractive", "version": "1"}


def test_memo_takes_the_whole_block_without_a_sentence_end() -> None:
    _, _, memo = pipeline("version 1.2 is out\n")
    assert memo["text"] == "- version 1.2 is out\n"


def test_memo_stops_at_max_claims() -> None:
    _, _, memo = pipeline("".join(f"line {i}.\n" for i in range(9)))
    assert len(memo["claims"]) == 5


def test_memo_of_headings_only_has_no_claims_and_is_verified() -> None:
    _, _, memo = pipeline("# One\n\n## Two\n", "markdown")
    assert memo["text"] == ""
    assert memo["claims"] == []
    assert memo["verification"] == {"overall": "verified", "claims": []}


def test_sentence_crossing_a_chunk_split_cites_both_chunks() -> None:
    _, index, memo = pipeline("alpha beta gamma delta.", max_chars=12)
    (claim,) = memo["claims"]
    assert [c["chunk_id"] for c in claim["citations"]] == [c["chunk_id"] for c in index["chunks"]]
    assert "".join(c["quote"] for c in claim["citations"]) == "alpha beta gamma delta."
    assert memo["verification"]["overall"] == "verified"


def test_memo_refuses_a_chunk_index_of_another_docir() -> None:
    docir, _, _ = pipeline("first text.\n")
    _, other_index, _ = pipeline("second text.\n")
    with pytest.raises(DocumentInvariantError):
        build_memo(docir, other_index, run_id="r", docir_sha256="a", chunk_index_sha256="b")


def _verdict(memo: dict[str, Any], docir: dict[str, Any], index: dict[str, Any]) -> list[str]:
    result = verify_memo(memo, docir, index)
    return [result["overall"], *(c["status"] for c in result["claims"])]


TWO_CLAIMS = "Alpha is first. More.\nBeta is second.\n"


def test_changed_quote_fails_its_claim_and_leaves_the_memo_partial() -> None:
    docir, index, memo = pipeline(TWO_CLAIMS)
    memo["claims"][0]["citations"][0]["quote"] = "Alpha is last."
    assert _verdict(memo, docir, index) == ["partial", "failed", "verified"]


def test_shifted_offset_is_detected() -> None:
    docir, index, memo = pipeline(TWO_CLAIMS)
    memo["claims"][1]["citations"][0]["start"] += 1
    assert _verdict(memo, docir, index) == ["partial", "verified", "failed"]


def test_citation_outside_the_text_fails_the_whole_memo() -> None:
    docir, index, memo = pipeline(TWO_CLAIMS)
    memo["claims"][1]["citations"][0]["end"] = len(docir["text"]) + 5
    assert _verdict(memo, docir, index)[0] == "failed"


def test_citation_of_a_missing_chunk_fails() -> None:
    docir, index, memo = pipeline(TWO_CLAIMS)
    for claim in memo["claims"]:
        claim["citations"][0]["chunk_id"] = "c-0000000000000000"
    assert _verdict(memo, docir, index) == ["failed", "failed", "failed"]


def test_claim_whose_memo_text_differs_from_its_quotes_is_partial() -> None:
    docir, index, memo = pipeline(TWO_CLAIMS)
    memo["text"] = memo["text"].replace("Alpha", "Omega")
    assert _verdict(memo, docir, index) == ["partial", "partial", "verified"]


def test_claim_without_citations_fails() -> None:
    docir, index, memo = pipeline(TWO_CLAIMS)
    memo["claims"][0]["citations"] = []
    assert _verdict(memo, docir, index) == ["partial", "failed", "verified"]


def test_memo_is_byte_identical_across_runs() -> None:
    first = [canonical_bytes(body) for body in pipeline(MARKDOWN, "markdown", 40)]
    second = [canonical_bytes(body) for body in pipeline(MARKDOWN, "markdown", 40)]
    assert first == second


def test_bodies_hold_no_wall_clock_time() -> None:
    for body in pipeline(MARKDOWN, "markdown"):
        keys = json.dumps(body)
        assert not any(word in keys for word in ('"created', '"time', '"timestamp', '_at"'))


# --- properties ----------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "# ", "## ", "- ", "* ", "1. ", "> ", "```", "~~~", "    ", "\t", "| a | b |",
        "|---|---|", "---", "===", "<div>", "[x]: /u", "[low]", "Word", "word", ". ", "! ",
        "? ", ".", " ", "é", "e\u0301", "日本語", "😀", "\u200d", "*em*", "`c`",
    ]
)  # fmt: skip
_LINE = st.lists(st.one_of(_PIECES, st.text(max_size=4)), max_size=8).map("".join)
_NEWLINE = st.sampled_from(["\n", "\r\n", "\r"])
DOCUMENTS = st.lists(st.tuples(_LINE, _NEWLINE), max_size=14).map(
    lambda lines: "".join(line + newline for line, newline in lines)
)
FORMATS = st.sampled_from(["text", "markdown"])
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(source=DOCUMENTS, fmt=FORMATS, max_chars=st.integers(1, 60))
def test_pipeline_invariants_hold_for_any_document(source: str, fmt: str, max_chars: int) -> None:
    docir, index, memo = pipeline(source, fmt, max_chars)
    check_docir(docir)
    text = docir["text"]
    assert "\r" not in text
    assert text == canonical_text(source)
    for block, block_text in zip(docir["blocks"], texts(docir), strict=True):
        assert block_text.strip() and not block_text.endswith("\n")
        assert block["confidence"] == (0.3 if "[low]" in block_text else 1.0)
    chunks = index["chunks"]
    # Chunks are sorted, disjoint, within the text and cover the blocks in order.
    assert all(0 <= c["start"] < c["end"] <= len(text) for c in chunks)
    assert all(a["end"] <= b["start"] for a, b in pairwise(chunks))
    assert all(len(chunk_text(docir, c)) <= max_chars for c in chunks)
    covered = [bid for c in chunks for bid in c["block_ids"]]
    assert list(dict.fromkeys(covered)) == [b["block_id"] for b in docir["blocks"]]
    for block in docir["blocks"]:
        spans = [(c["start"], c["end"]) for c in chunks if block["block_id"] in c["block_ids"]]
        assert spans[0][0] <= block["start"] and block["end"] <= spans[-1][1]
    for claim in memo["claims"]:
        for citation in claim["citations"]:
            assert text[citation["start"] : citation["end"]] == citation["quote"]
    assert memo["verification"]["overall"] == "verified"


@PROPERTY
@given(source=DOCUMENTS, fmt=FORMATS, max_chars=st.integers(1, 60))
def test_ids_and_bytes_are_stable_across_two_builds(source: str, fmt: str, max_chars: int) -> None:
    first = pipeline(source, fmt, max_chars)
    second = pipeline(source, fmt, max_chars)
    ids = [[c["chunk_id"] for c in run[1]["chunks"]] for run in (first, second)]
    assert ids[0] == ids[1]
    assert [canonical_bytes(b) for b in first] == [canonical_bytes(b) for b in second]


@PROPERTY
@given(source=DOCUMENTS, fmt=FORMATS, data=st.data())
def test_any_tampered_citation_is_not_verified(source: str, fmt: str, data: st.DataObject) -> None:
    docir, index, memo = pipeline("Lead claim.\n\n" + source, fmt, 30)
    claim = data.draw(st.sampled_from(memo["claims"]))
    citation = data.draw(st.sampled_from(claim["citations"]))
    how = data.draw(st.sampled_from(["quote", "start", "end", "chunk"]))
    if how == "quote":
        citation["quote"] += "x"
    elif how == "start":
        citation["start"] += 1
    elif how == "end":
        citation["end"] -= 1
    else:
        citation["chunk_id"] = "c-" + "f" * 16
    result = verify_memo(memo, docir, index)
    assert result["overall"] in ("partial", "failed")
    status = next(c["status"] for c in result["claims"] if c["claim_id"] == claim["claim_id"])
    assert status in ("partial", "failed")
