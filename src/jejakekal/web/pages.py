"""Template contexts: what one page or fragment shows, fetched through the UI client."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from datetime import UTC, datetime

from jejakekal.domain import errors
from jejakekal.domain.gates import INPUT_GATE, PLAN_GATE
from jejakekal.domain.ids import parse_run_id
from jejakekal.domain.views import (
    ArtifactMeta,
    OcrPosture,
    PlannedNode,
    RunSummary,
    RunView,
    SandboxPosture,
)
from jejakekal.web.client import UiClient
from jejakekal.web.doc_facts import DocFacts, doc_facts
from jejakekal.web.gates import (
    ClosedGateRow,
    GateCard,
    LedgerRow,
    closed_gate_rows,
    gate_card,
    ledger_rows,
)
from jejakekal.web.views import (
    Actions,
    Bar,
    ShownArtifact,
    actions_for,
    artifact_view,
    timeline_bars,
)

RUN_LIST_LIMIT = 50
INBOX_LIMIT = 100
INBOX_POLL_URL = "/fragments/inbox"
# The variables a template is rendered with: built from the typed models below, read
# only by Jinja.
TemplateContext = dict[str, object]


@dataclass(frozen=True)
class Notice:
    level: str  # info | error
    text: str


@dataclass(frozen=True)
class RunPage:
    """The execution plane of one run and its artifact list."""

    run: RunView
    bars: list[Bar]
    actions: Actions
    retried: bool
    artifacts: list[ArtifactMeta]
    run_item: RunSummary
    poll_url: str
    preserve_answer: bool
    gate_cards: list[GateCard]
    closed_gates: list[ClosedGateRow]
    ledger: list[LedgerRow]
    # The text box that answers the `input` gate as `{"answer": text}` (release 2's form).
    quick_answer: bool

    def context(self) -> TemplateContext:
        return {f.name: getattr(self, f.name) for f in fields(self)}


async def run_context(
    client: UiClient, run_id: str, *, step: int | None, polling: bool
) -> TemplateContext:
    """The run page of `run_id`, as the templates read it."""
    view = await client.run_view(run_id)
    artifacts = await client.list_artifacts(run_id=view.run_id)
    now_ms = int(time.time() * 1000)
    poll_url = f"/fragments/runs/{view.run_id}" + (f"?step={step}" if step is not None else "")
    actions = actions_for(view)
    cards = [gate_card(g, plan=view.plan, now_ms=now_ms) for g in view.gates if g.is_open]
    page = RunPage(
        run=view,
        bars=timeline_bars(view, now_ms=now_ms, selected=step),
        actions=actions,
        retried=any((s.attempt or 0) > 1 for s in view.steps),
        artifacts=artifacts,
        run_item=list_item(view),
        poll_url=poll_url,
        # Polls replace #exec every second: keep what the operator is typing.
        preserve_answer=polling,
        gate_cards=cards,
        closed_gates=closed_gate_rows(view.gates),
        ledger=ledger_rows(view.ledger),
        quick_answer=actions.answer and all(c.gate.key == INPUT_GATE for c in cards),
    )
    return page.context()


def list_item(view: RunView) -> RunSummary:
    """The run list's entry for a run view (a poll refreshes it out of band), its times
    the engine's."""
    return RunSummary(
        run_id=view.run_id,
        workflow_id=view.workflow_id,
        kind=view.kind,
        status=view.status,
        dbos_status=view.dbos_status,
        last_step=view.last_step,
        retry_count=view.retry_count,
        goal=view.goal,
        recipe=view.recipe,
        created_at=_iso(view.header.created_at),
        updated_at=_iso(view.header.updated_at),
    )


def _iso(epoch_ms: int | None) -> str | None:
    if epoch_ms is None:
        return None
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def no_run(message: str | None = None, *, failed: bool = False) -> TemplateContext:
    """The execution plane without a run: idle, or (`failed`) the error state with the
    reason a run asked for cannot be shown; never idle for a run that is missing."""
    return {
        "run": None,
        "bars": [],
        "artifacts": [],
        "exec_message": message,
        "run_error": message if failed else None,
    }


async def safe_run_context(
    client: UiClient, run_id: str, *, step: int | None, polling: bool = False
) -> tuple[TemplateContext, int]:
    """A run's context, or the error state with the reason and the status to answer with."""
    try:
        run_id = parse_run_id(run_id)
        return await run_context(client, run_id, step=step, polling=polling), 200
    except (errors.RunNotFound, errors.InvalidRunId) as exc:
        return no_run(f"{exc.message} ({exc.code})", failed=True), exc.status


async def shown_artifact(
    client: UiClient, artifact_id: str, *, focus_chunk: str | None = None
) -> ShownArtifact:
    """One artifact as the viewer shows it; a docir, and the chunk lists and memos read
    beside their docir, also get its pages (PDF boxes, what OCR missed)."""
    document = await client.artifact(artifact_id)
    meta = document.meta
    doc = None
    if meta.type == "docir":
        doc = doc_facts(meta.run_id, document.content)
    elif meta.type in ("chunk-index", "memo"):
        doc = await _docir_facts(client, meta.run_id)
    text = doc.text if doc is not None and meta.type != "docir" else None
    return artifact_view(document, text, doc=doc, focus_chunk=focus_chunk)


async def _docir_facts(client: UiClient, run_id: str) -> DocFacts | None:
    siblings = await client.list_artifacts(run_id=run_id)
    docir = next((a for a in siblings if a.type == "docir"), None)
    if docir is None:
        return None
    return doc_facts(run_id, (await client.artifact(docir.id)).content)


async def sandbox_posture(client: UiClient) -> SandboxPosture | None:
    """What a user's commands would run under, for the page's banner; None when the API
    cannot say (the page still renders)."""
    try:
        return await client.sandbox()
    except errors.JejakekalError:
        return None


async def ocr_posture(client: UiClient) -> OcrPosture | None:
    """Whether scanned pages can be read, for the page's header; None when the API
    cannot say."""
    try:
        return await client.ocr()
    except errors.JejakekalError:
        return None


async def run_list(client: UiClient) -> list[RunSummary]:
    return await client.list_runs(limit=RUN_LIST_LIMIT)


async def inbox_context(client: UiClient, *, polling: bool = False) -> TemplateContext:
    """Every open gate across runs, each with its form; a plan gate with its plan."""
    gates = await client.gate_inbox(limit=INBOX_LIMIT)
    now_ms = int(time.time() * 1000)
    cards = []
    for gate in gates:
        plan = await _plan_of(client, gate.run_id) if gate.key == PLAN_GATE else ()
        cards.append(gate_card(gate, plan=plan, now_ms=now_ms))
    return {
        **no_run(),
        "inbox": cards,
        "poll_url": INBOX_POLL_URL,
        "preserve_answer": polling,
    }


async def _plan_of(client: UiClient, run_id: str) -> tuple[PlannedNode, ...]:
    try:
        return (await client.run_view(run_id)).plan
    except errors.RunNotFound:
        return ()
