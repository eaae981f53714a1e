"""The JSON shapes of the document artifacts: docir, chunk index and memo, and their provenance.

These bodies are hashed and stored as canonical JSON bytes, so they are TypedDicts: plain
dicts at run time, with the keys the bytes already hold. How they are built and checked
is in `domain.documents` and `domain.memo`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Generic, Literal, NotRequired, TypedDict, TypeVar

Params = TypeVar("Params", bound=Mapping[str, object])
Verdict = Literal["verified", "partial", "failed"]


class Producer(TypedDict):
    step: str
    name: str
    version: str


class ArtifactInput(TypedDict):
    """An artifact an artifact was made from, by type and hash."""

    type: str
    sha256: str


class ArtifactHeader(TypedDict, Generic[Params]):
    """The fields every artifact body starts with."""

    schema: str
    run_id: str
    producer: Producer
    params: Params
    params_sha256: str
    inputs: list[ArtifactInput]


# --- docir ----------------------------------------------------------------------------


class DocirParams(TypedDict):
    format: str
    low_mark: str
    low_confidence: float
    ocr_threshold: float


# docir/1: `{"lines": [first, last]}` (1-based); docir/2: by format (domain.extraction).
Locator = dict[str, object]


class Block(TypedDict):
    block_id: str
    kind: str
    level: int | None
    start: int
    end: int
    parent_id: str | None
    order: int
    confidence: float
    locator: Locator


class Docir2Params(TypedDict):
    format: str
    ocr: str  # JEJAKEKAL_OCR as the run saw it: auto | force | off
    ocr_engine: str | None  # "tesseract 5.3.0"; None when no page was recognised
    ocr_threshold: float


class DocIR(ArtifactHeader[DocirParams | Docir2Params]):
    format: str
    text: str
    text_sha256: str
    newline: str
    offsets: str
    blocks: list[Block]
    ocr_required: bool
    low_confidence_blocks: list[str]
    pages: NotRequired[list[DocPage]]  # docir/2 only ([] but for PDFs)


class DocPage(TypedDict):
    """A PDF page in docir/2: its size in points and where its text came from."""

    page: int
    width: float
    height: float
    text_from: str  # text_layer | ocr | ocr_unavailable | ocr_off


# --- chunk index ----------------------------------------------------------------------


class ChunkerParams(TypedDict):
    max_chars: int
    overlap: int
    boundary: str


class Chunker(TypedDict):
    name: str
    version: str
    params: ChunkerParams


class Chunk(TypedDict):
    chunk_id: str
    ord: int
    start: int
    end: int
    text_sha256: str
    block_ids: list[str]
    heading_path: list[str]
    prev_id: str | None
    next_id: str | None
    confidence: float
    pages: NotRequired[list[int]]  # chunk-index/2: the PDF pages its blocks sit on


class ChunkIndex(ArtifactHeader[ChunkerParams]):
    chunker: Chunker
    text_sha256: str
    chunks: list[Chunk]


# --- memo -----------------------------------------------------------------------------


class MemoParams(TypedDict):
    generator: str
    max_claims: int


class Citation(TypedDict):
    """A quote of the docir text at document-global offsets, inside one chunk."""

    chunk_id: str
    start: int
    end: int
    quote: str
    quote_sha256: str
    # memo/2: where the quote starts in the source (its block's locator): page and box.
    locator: NotRequired[Locator]


class Claim(TypedDict):
    claim_id: str
    start: int  # offsets into the memo's text
    end: int
    citations: list[Citation]
    low_confidence: NotRequired[bool]  # memo/2: its block was read by OCR with doubt


class CitationCheck(TypedDict):
    check: Literal["citation"]
    chunk_id: str  # as the citation gives them, checked or not
    start: int
    end: int
    in_text: bool
    ok: bool
    problems: list[str]


class ClaimTextCheck(TypedDict):
    check: Literal["claim_text"]
    ok: bool
    problems: list[str]


class ClaimVerification(TypedDict):
    claim_id: str
    status: Verdict
    checks: list[ClaimTextCheck | CitationCheck]


class Verification(TypedDict):
    overall: Verdict
    claims: list[ClaimVerification]


class UnverifiedMemo(ArtifactHeader[MemoParams]):
    """A memo before its `verification` is added; what `verify_memo` reads."""

    generator: str
    text: str
    claims: list[Claim]


class Memo(UnverifiedMemo):
    verification: Verification


# --- provenance -----------------------------------------------------------------------


class BlobSource(TypedDict):
    """An uploaded file: the blob holding its bytes and what it was sent as."""

    sha256: str
    size: int
    content_type: str
    filename: str | None


class RawSource(TypedDict):
    kind: str  # "source", "cmd" or "upload"
    format: str
    blob: NotRequired[BlobSource]  # an upload's


class Origin(TypedDict):
    """Where an artifact comes from: the raw bytes' source, or a body's header fields."""

    source: NotRequired[RawSource]
    schema: NotRequired[str]
    producer: NotRequired[Producer]
    params_sha256: NotRequired[str]
    inputs: list[ArtifactInput]


class Provenance(Origin):
    """An artifact row's `prov`: its origin and the step that stored it."""

    step: str
    producer_function_id: int | None
