"""What the templates show, computed from run views and the API's JSON shapes: plain
functions, no I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jejakekal.domain import names
from jejakekal.domain.contracts import MAX_SLEEP_MS
from jejakekal.domain.lifecycle import Action, DocStatus, RunKind, RunStatus, allowed_actions
from jejakekal.domain.views import RunView

Json = dict[str, Any]

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


def artifact_view(document: Json, docir_text: str | None) -> Json:
    """The viewer's model of one artifact: text, pretty JSON, a chunk list, or a memo."""
    meta, content = document["meta"], document["content"]
    kind = meta["type"]
    shown: Json = {"meta": meta, "prov": document["prov"], "kind": kind}
    if not isinstance(content, dict | list):
        shown.update(kind="raw", text=str(content))
        return shown
    shown["pretty"] = json.dumps(content, indent=2, ensure_ascii=False, sort_keys=True)
    if kind == "chunk-index" and isinstance(content, dict):
        shown["chunks"] = [_chunk_row(c, docir_text) for c in content.get("chunks", [])]
    elif kind == "memo" and isinstance(content, dict):
        shown["claims"] = _claims(content)
        shown["overall"] = (content.get("verification") or {}).get("overall")
        shown["doc_text"] = docir_text
    return shown


def _chunk_row(chunk: Json, text: str | None) -> Json:
    start, end = chunk.get("start"), chunk.get("end")
    preview = None
    if text is not None and isinstance(start, int) and isinstance(end, int):
        preview = text[start:end]
    return {
        "chunk_id": chunk.get("chunk_id"),
        "ord": chunk.get("ord"),
        "start": start,
        "end": end,
        "heading_path": chunk.get("heading_path") or [],
        "preview": preview,
    }


def _claims(memo: Json) -> list[Json]:
    text = memo.get("text") or ""
    verdicts = {
        c.get("claim_id"): c.get("status")
        for c in (memo.get("verification") or {}).get("claims", [])
    }
    claims = []
    for claim in memo.get("claims", []):
        start, end = claim.get("start"), claim.get("end")
        shown = text[start:end] if isinstance(start, int) and isinstance(end, int) else ""
        claims.append(
            {
                "claim_id": claim.get("claim_id"),
                "text": shown,
                "status": verdicts.get(claim.get("claim_id")),
                "citations": claim.get("citations", []),
            }
        )
    return claims


def parse_step(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() and len(value) < 10 else None


def parse_sleep_ms(value: str | None) -> int:
    """The page's `?sleepMs=`: a document run's pause, 0 unless a valid number is given."""
    if value is None or not value.isdigit() or len(value) > 6:
        return 0
    return min(int(value), MAX_SLEEP_MS)
