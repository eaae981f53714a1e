"""The memo: claims quoted from the docir, each citing chunks by document-global offsets.

The extractive generator is deterministic and offline. `verify_memo` re-checks every
citation against the docir text and the chunk index, and knows nothing of how the memo
was written, so it judges any generator's memo (and a bundle, offline) the same way.
"""

from __future__ import annotations

import re

from jejakekal.domain.artifact_bodies import (
    Chunk,
    ChunkIndex,
    Citation,
    CitationCheck,
    Claim,
    ClaimTextCheck,
    ClaimVerification,
    DocIR,
    Memo,
    MemoParams,
    UnverifiedMemo,
    Verdict,
    Verification,
)
from jejakekal.domain.docir2 import block_at
from jejakekal.domain.documents import (
    MEMO2_SCHEMA,
    MEMO_SCHEMA,
    OCR_THRESHOLD,
    DocumentInvariantError,
    artifact_header,
    check_docir,
    content_start,
    is_docir2,
    is_span,
    text_sha256,
)

GENERATOR = "extractive"
# Only prose makes claims: a table row, a code line or a rule is no sentence.
CLAIM_KINDS = ("paragraph", "list_item", "quote")
_SENTENCE_END = re.compile(r"[.!?](?=\s|\Z)")
CLAIM_PREFIX = "- "


def first_sentence(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The span of the first sentence in `text[start:end]`, whitespace trimmed.

    A sentence ends at `.`, `!` or `?` followed by whitespace or the end; without
    one the whole span is the sentence. None when the span is only whitespace.
    """
    found = _SENTENCE_END.search(text, start, end)
    stop = found.end() if found else end
    sentence = text[start:stop]
    lead = len(sentence) - len(sentence.lstrip())
    trail = len(sentence.rstrip())
    return (start + lead, start + trail) if lead < trail else None


def _citations(docir: DocIR, chunks: list[Chunk], start: int, end: int) -> list[Citation]:
    """One citation per chunk the span touches (a long block's sentence may cross two);
    in a memo/2 each carries its block's locator (for a PDF, the page and the box)."""
    text = docir["text"]
    citations: list[Citation] = []
    for chunk in chunks:
        lo, hi = max(start, chunk["start"]), min(end, chunk["end"])
        if lo < hi:
            quote = text[lo:hi]
            citation: Citation = {
                "chunk_id": chunk["chunk_id"],
                "start": lo,
                "end": hi,
                "quote": quote,
                "quote_sha256": text_sha256(quote),
            }
            block = block_at(docir, lo) if is_docir2(docir) else None
            if block is not None:
                citation["locator"] = block["locator"]
            citations.append(citation)
    return citations


def _claims(docir: DocIR, chunks: list[Chunk], max_claims: int) -> tuple[str, list[Claim]]:
    """The memo's text and its claims: the first sentence of each prose block, one a line."""
    text = docir["text"]
    memo_text = ""
    claims: list[Claim] = []
    for block in docir["blocks"]:
        if len(claims) == max_claims:
            break
        if block["kind"] not in CLAIM_KINDS:
            continue
        span = first_sentence(text, content_start(docir, block), block["end"])
        if span is None:
            continue
        sentence = text[span[0] : span[1]]
        claim_start = len(memo_text) + len(CLAIM_PREFIX)
        memo_text += f"{CLAIM_PREFIX}{sentence}\n"
        claim: Claim = {
            "claim_id": f"k-{len(claims) + 1}",
            "start": claim_start,
            "end": claim_start + len(sentence),
            "citations": _citations(docir, chunks, *span),
        }
        if is_docir2(docir):
            # A sentence read by OCR with little confidence is flagged for a human.
            claim["low_confidence"] = block["confidence"] < OCR_THRESHOLD
        claims.append(claim)
    return memo_text, claims


def build_memo(
    docir: DocIR,
    chunk_index: ChunkIndex,
    *,
    run_id: str,
    docir_sha256: str,
    chunk_index_sha256: str,
    max_claims: int = 5,
) -> Memo:
    """An extractive memo: the first sentence of each of the first `max_claims` prose blocks.

    Each claim is quoted verbatim from the docir text and the memo carries its own
    `verification`.
    """
    check_docir(docir)
    if chunk_index.get("text_sha256") != docir["text_sha256"]:
        raise DocumentInvariantError("the chunk index was not built from this docir")
    memo_text, claims = _claims(docir, chunk_index["chunks"], max_claims)
    params: MemoParams = {"generator": GENERATOR, "max_claims": max_claims}
    memo: UnverifiedMemo = {
        **artifact_header(
            MEMO2_SCHEMA if is_docir2(docir) else MEMO_SCHEMA,
            run_id=run_id,
            producer=f"memo:{GENERATOR}",
            version="1",
            params=params,
            inputs=[
                {"type": "docir", "sha256": docir_sha256},
                {"type": "chunk-index", "sha256": chunk_index_sha256},
            ],
        ),
        "generator": GENERATOR,
        "text": memo_text,
        "claims": claims,
    }
    return {**memo, "verification": verify_memo(memo, docir, chunk_index)}


def _check_citation(citation: Citation, docir: DocIR, chunks: dict[str, Chunk]) -> CitationCheck:
    text = docir["text"]
    start, end, quote = citation.get("start"), citation.get("end"), citation.get("quote")
    problems = []
    in_text = is_span(start, end, len(text))
    if not in_text:
        problems.append("span_outside_text")
    elif text[start:end] != quote:
        problems.append("quote_mismatch")
    if is_docir2(docir) and in_text:
        block = block_at(docir, start)
        if block is None or citation.get("locator") != block["locator"]:
            problems.append("locator_mismatch")
    if not isinstance(quote, str) or text_sha256(quote) != citation.get("quote_sha256"):
        problems.append("quote_hash_mismatch")
    chunk = chunks.get(str(citation.get("chunk_id")))
    if chunk is None:
        problems.append("chunk_missing")
    else:
        if text_sha256(text[chunk["start"] : chunk["end"]]) != chunk["text_sha256"]:
            problems.append("chunk_hash_mismatch")
        if not (in_text and chunk["start"] <= start and end <= chunk["end"]):
            problems.append("span_outside_chunk")
    return {
        "check": "citation",
        "chunk_id": citation.get("chunk_id"),
        "start": start,
        "end": end,
        "in_text": in_text,
        "ok": not problems,
        "problems": problems,
    }


def _check_claim_text(memo: UnverifiedMemo, claim: Claim) -> ClaimTextCheck:
    """The claim's span lies in the memo text; an extractive claim is its quotes, joined."""
    memo_text = memo.get("text")
    start, end = claim.get("start"), claim.get("end")
    problems = []
    if not isinstance(memo_text, str) or not is_span(start, end, len(memo_text)):
        problems.append("claim_span_outside_memo")
    elif memo.get("generator") == GENERATOR:
        quoted = "".join(str(c.get("quote")) for c in claim.get("citations", []))
        if memo_text[start:end] != quoted:
            problems.append("claim_text_mismatch")
    return {"check": "claim_text", "ok": not problems, "problems": problems}


def _claim_status(citation_oks: list[bool], claim_text_ok: bool) -> Verdict:
    # A claim without citations supports nothing; a claim whose shown text differs
    # from its sound quotes is only partly verified.
    if not any(citation_oks):
        return "failed"
    return "verified" if all(citation_oks) and claim_text_ok else "partial"


def verify_memo(memo: UnverifiedMemo, docir: DocIR, chunk_index: ChunkIndex) -> Verification:
    """Re-check every citation; `verified | partial | failed` per claim and overall.

    Malformed citations are reported as failed checks, never raised, so a tampered
    memo still gets a verdict. The memo's own `verification` is not consulted.
    """
    chunks = {chunk["chunk_id"]: chunk for chunk in chunk_index.get("chunks", [])}
    results: list[ClaimVerification] = []
    outside_text = False
    for claim in memo.get("claims", []):
        cited = [_check_citation(c, docir, chunks) for c in claim.get("citations", [])]
        claim_text = _check_claim_text(memo, claim)
        outside_text = outside_text or not all(check["in_text"] for check in cited)
        results.append(
            {
                "claim_id": claim.get("claim_id"),
                "status": _claim_status([check["ok"] for check in cited], claim_text["ok"]),
                "checks": [claim_text, *cited],
            }
        )
    statuses = {result["status"] for result in results}
    overall: Verdict
    # A memo with no claims (a document of headings only) asserts nothing false, so it
    # is verified: "verified" is about citations, not about having something to say.
    if outside_text:
        overall = "failed"
    elif statuses <= {"verified"}:
        overall = "verified"
    elif statuses == {"failed"}:
        overall = "failed"
    else:
        overall = "partial"
    return {"overall": overall, "claims": results}
