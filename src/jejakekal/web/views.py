"""What the templates show, computed from run views and artifact documents: plain
functions, no I/O."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jejakekal.domain import forks, names
from jejakekal.domain.contracts import MAX_SLEEP_MS
from jejakekal.domain.lifecycle import Action, DocStatus, RunKind, RunStatus, allowed_actions
from jejakekal.domain.views import ArtifactDetail, ArtifactDocument, ArtifactMeta, RunView
from jejakekal.web.doc_facts import DocFacts, PageBox, page_box, page_image_url

# The UI's four states (README, "Web UI": `data-state`). A status missing here is not
# known to the UI, so it shows as an error instead of a spinner that never ends.
_DOC_STATES: dict[str, str] = {
    DocStatus.RUNNING: "running",
    DocStatus.DONE: "done",
    DocStatus.ERROR: "error",
    DocStatus.UNKNOWN: "error",
}
_INTENT_STATES: dict[str, str] = {
    RunStatus.QUEUED: "running",
    RunStatus.RUNNING: "running",
    RunStatus.WAITING_INPUT: "running",
    RunStatus.SUCCEEDED: "done",
    RunStatus.FAILED: "error",
    RunStatus.RETRIES_EXCEEDED: "error",
    RunStatus.CANCELED: "error",
}
STATE_LABELS = {"idle": "Idle", "running": "Running", "done": "Done", "error": "Error"}
# ExecuteST runs in child workflows; in the parent's timeline it is the await of them.
_STEP_OF_OP = {names.OP_GET_RESULT: names.STEP_EXECUTE}
MIN_BAR_PCT = 0.8  # an operation of a millisecond still gets a bar one can see
# A node's shell command, as the script planner writes it: shown as the script alone.
_SHELLS = ("/bin/sh", "sh", "/bin/bash", "bash")
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_-]")


def command_line(argv: list[str]) -> str:
    """A plan node's argv as one would type it: the script of `sh -c <script>`, else the
    words quoted where the shell would need it."""
    if len(argv) == 3 and argv[0] in _SHELLS and argv[1] == "-c":
        return argv[2]
    return shlex.join(argv)


def artifact_label(meta: ArtifactMeta) -> str | None:
    """What tells a node's artifacts apart in the list (`exec-1:a1:stdout`, the node, the
    attempt and the output); None for a document's, which are one of each type."""
    if meta.type not in names.NODE_ARTIFACT_TYPES:
        return None
    return meta.id.removeprefix(meta.run_id + ":")


def download_name(artifact_id: str, content_type: str) -> str:
    """The file name a download is saved under (as the API's `download` names it)."""
    extension = "json" if content_type.startswith("application/json") else "txt"
    return f"{artifact_id.replace(':', '_')}.{extension}"


def ui_state(kind: str | None, status: str | None) -> str:
    if kind is None or status is None:
        return "idle"
    table = _DOC_STATES if kind == RunKind.DOC else _INTENT_STATES
    return table.get(status, "error")


def status_label(view: RunView | None) -> str:
    if view is None:
        return "No run selected"
    if view.status == RunStatus.WAITING_INPUT:
        return "Waiting for your answer"
    return STATE_LABELS[ui_state(view.kind, view.status)]


@dataclass(frozen=True)
class Actions:
    """Which operator actions the run accepts now (the API refuses the others with 409)."""

    answer: bool
    retry: bool
    resume: bool
    cancel: bool
    fork: bool = False

    @property
    def any(self) -> bool:
        return self.answer or self.retry or self.resume or self.cancel


def actions_for(view: RunView) -> Actions:
    """The life cycle's rule (`lifecycle.allowed_actions`), the one the API enforces."""
    allowed = allowed_actions(view.kind, view.status, view.dbos_status)
    return Actions(
        answer=Action.ANSWER in allowed,
        retry=Action.RETRY in allowed,
        resume=Action.RESUME in allowed,
        cancel=Action.CANCEL in allowed,
        fork=Action.FORK in allowed,
    )


@dataclass(frozen=True)
class Bar:
    """One DBOS operation drawn on the run's time axis (percentages of the run's span)."""

    function_id: int
    name: str
    left: float
    width: float
    duration_ms: int | None
    error: str | None
    running: bool
    attempt: int | None
    selected: bool
    # "Fork from here" is offered on this operation (domain/forks.py).
    forkable: bool = False


def timeline_bars(view: RunView, *, now_ms: int, selected: int | None) -> list[Bar]:
    """The run's operations on one axis from its first start to its last end (to now
    while the run is live, so a long sleep shows as time passing)."""
    ops = view.timeline
    starts = [op.started_at_epoch_ms for op in ops if op.started_at_epoch_ms is not None]
    if not starts:
        return []
    t0 = min(starts)
    ends = [op.completed_at_epoch_ms or now_ms for op in ops]
    if ui_state(view.kind, view.status) == "running":
        ends.append(now_ms)
    span = max(max(ends) - t0, 1)
    attempts = {s.step_id: s.attempt for s in view.steps}
    forkable = Action.FORK in allowed_actions(view.kind, view.status, view.dbos_status)
    bars = []
    for op in ops:
        start = op.started_at_epoch_ms or t0
        done = op.completed_at_epoch_ms
        end = done if done is not None else max(now_ms, start)
        left = 100.0 * (start - t0) / span
        width = min(max(100.0 * (end - start) / span, MIN_BAR_PCT), 100.0 - min(left, 99.2))
        bars.append(
            Bar(
                function_id=op.function_id,
                name=op.function_name,
                left=round(left, 2),
                width=round(width, 2),
                duration_ms=end - start if done is not None else None,
                error=error_message(op.error),
                running=done is None,
                attempt=attempts.get(_STEP_OF_OP.get(op.function_name, op.function_name)),
                selected=selected == op.function_id,
                forkable=forkable and forks.is_point(view.kind, op.function_name),
            )
        )
    return bars


def error_message(error: Any) -> str | None:
    """DBOS records an operation's error as serialized JSON; show its message."""
    if error is None:
        return None
    if isinstance(error, str):
        try:
            parsed = json.loads(error)
        except ValueError:
            return error
        error = parsed
    if isinstance(error, dict):
        return str(error.get("message") or error.get("name") or error)
    return str(error)


@dataclass(frozen=True)
class ChunkRow:
    """One chunk of a chunk index, with the docir text it covers when that is known."""

    chunk_id: str | None
    start: int | None
    end: int | None
    heading_path: list[str]
    preview: str | None
    pages: list[int] = field(default_factory=list)  # a PDF's pages the chunk is on
    focused: bool = False  # the chunk a search result opened


@dataclass(frozen=True)
class CitationLink:
    """A claim's citation: a span of the docir text, inside one chunk."""

    chunk_id: str | None
    start: int | None
    end: int | None
    box: PageBox | None = None  # where it sits on a PDF page


@dataclass(frozen=True)
class ClaimRow:
    """One claim of a memo: its text, its verdict and what it cites."""

    claim_id: str | None
    text: str
    status: str | None
    citations: list[CitationLink]


@dataclass(frozen=True)
class ShownArtifact:
    """The viewer's model of one artifact. `kind` is "raw" (shown as `text`) or the
    artifact's type; JSON content is also shown `pretty`, and chunk lists and memos
    as rows."""

    meta: ArtifactDetail
    kind: str
    text: str | None = None
    pretty: str | None = None
    chunks: tuple[ChunkRow, ...] = ()
    claims: tuple[ClaimRow, ...] = ()
    overall: str | None = None  # the memo's verdict
    doc_text: str | None = None  # the docir text the memo cites
    doc: DocFacts | None = None  # the run's docir: page sizes, pages and blocks OCR missed
    page_urls: dict[int, str] = field(default_factory=dict)  # a PDF's page images

    @property
    def page_cited(self) -> bool:
        """Whether a citation sits on a PDF page (the viewer then has a page view)."""
        return any(c.box is not None for claim in self.claims for c in claim.citations)


def artifact_view(
    document: ArtifactDocument,
    docir_text: str | None,
    *,
    doc: DocFacts | None = None,
    focus_chunk: str | None = None,
) -> ShownArtifact:
    """The viewer's model of one artifact: text, pretty JSON, a chunk list, or a memo;
    with `doc` (the run's docir), a PDF's citations placed on their pages and the pages
    and blocks OCR missed.

    The content is read defensively: a malformed field shows as missing, never fails
    the page."""
    meta, content = document.meta, document.content
    if not isinstance(content, dict | list):
        return ShownArtifact(meta=meta, kind="raw", text=str(content), doc=doc)
    pretty = json.dumps(content, indent=2, ensure_ascii=False, sort_keys=True)
    kind = meta.type
    if kind == "chunk-index" and isinstance(content, dict):
        chunks = tuple(
            _chunk_row(c, docir_text, focus_chunk) for c in _mappings(content.get("chunks"))
        )
        pages = sorted({p for c in chunks for p in c.pages})
        urls = {p: page_image_url(meta.run_id, p) for p in pages} if doc and doc.pages else {}
        return ShownArtifact(
            meta=meta, kind=kind, pretty=pretty, chunks=chunks, doc=doc, page_urls=urls
        )
    if kind == "memo" and isinstance(content, dict):
        verification = _mapping(content.get("verification"))
        return ShownArtifact(
            meta=meta,
            kind=kind,
            pretty=pretty,
            claims=_claims(content, doc),
            overall=_str(verification.get("overall")),
            doc_text=docir_text,
            doc=doc,
        )
    return ShownArtifact(meta=meta, kind=kind, pretty=pretty, doc=doc)


def _chunk_row(chunk: Mapping[str, object], text: str | None, focus: str | None) -> ChunkRow:
    start, end = _int(chunk.get("start")), _int(chunk.get("end"))
    preview = None
    if text is not None and start is not None and end is not None:
        preview = text[start:end]
    heading_path = chunk.get("heading_path")
    pages = chunk.get("pages")
    chunk_id = _str(chunk.get("chunk_id"))
    return ChunkRow(
        chunk_id=chunk_id,
        start=start,
        end=end,
        heading_path=[str(h) for h in heading_path] if isinstance(heading_path, list) else [],
        preview=preview,
        pages=[p for p in pages if isinstance(p, int)] if isinstance(pages, list) else [],
        focused=focus is not None and chunk_id == focus,
    )


def _claims(memo: Mapping[str, object], doc: DocFacts | None) -> tuple[ClaimRow, ...]:
    text = _str(memo.get("text")) or ""
    checked = _mappings(_mapping(memo.get("verification")).get("claims"))
    verdicts = {_str(c.get("claim_id")): _str(c.get("status")) for c in checked}
    claims = []
    for claim in _mappings(memo.get("claims")):
        claim_id = _str(claim.get("claim_id"))
        start, end = _int(claim.get("start")), _int(claim.get("end"))
        citations = [
            CitationLink(
                _str(c.get("chunk_id")),
                _int(c.get("start")),
                _int(c.get("end")),
                box=page_box(doc, c.get("locator")),
            )
            for c in _mappings(claim.get("citations"))
        ]
        claims.append(
            ClaimRow(
                claim_id=claim_id,
                text=text[start:end] if start is not None and end is not None else "",
                status=verdicts.get(claim_id),
                citations=citations,
            )
        )
    return tuple(claims)


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, dict) else {}


def _mappings(value: object) -> list[Mapping[str, object]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def chunk_anchor(chunk_id: str | None) -> str:
    """A chunk's element id in the chunk list (a search result links to it)."""
    return "chunk-" + _UNSAFE_ID.sub("-", chunk_id or "")


def parse_step(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() and len(value) < 10 else None


def parse_sleep_ms(value: str | None) -> int:
    """The page's `?sleepMs=`: a document run's pause, 0 unless a valid number is given."""
    if value is None or not value.isdigit() or len(value) > 6:
        return 0
    return min(int(value), MAX_SLEEP_MS)
