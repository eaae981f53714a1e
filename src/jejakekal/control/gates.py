"""Answering a run's human gates, and the inbox of open gates (README, "Human gates").

An answer is checked against the gate's schema before anything is written. The gate's
compare-and-set, its ledger row, the run's status and the message that wakes the
workflow commit together, so of racing answers exactly one is accepted; a repeat of the
accepted answer (the same `dedupeKey`, or none) gets its receipt again and writes nothing.
"""

from __future__ import annotations

from jejakekal.control.context import Context
from jejakekal.control.reads import RunReads
from jejakekal.domain import errors, gates, lifecycle
from jejakekal.domain.audit import Who
from jejakekal.domain.contracts import EventRequest
from jejakekal.domain.gates import GateAnswer, LedgerKind, Origin, Outcome, Said
from jejakekal.domain.lifecycle import Action, RunStatus
from jejakekal.domain.names import INPUT_TOPIC
from jejakekal.domain.views import GateReceipt, GateView
from jejakekal.storage import audit, runs
from jejakekal.storage import gates as gate_store
from jejakekal.storage.database import Tx


class Gates:
    def __init__(self, ctx: Context, reads: RunReads) -> None:
        self.ctx = ctx
        self.reads = reads

    def answer(
        self,
        run_id: str,
        key: str,
        body: GateAnswer,
        *,
        actor: str,
        origin: Origin,
        request_id: str | None = None,
    ) -> GateReceipt:
        view = self.reads.view(run_id)
        with self.ctx.db.read() as tx:
            found = gate_store.latest(tx, view.run_id, key)
        if found is None:
            raise errors.GateNotOpen(
                f"run {view.run_id} has no gate {key!r} open", run_id=view.run_id, gate=key
            )
        if not found.is_open:
            return _settled(found, body)
        gates.check_answer(found.gate(), body.answer)
        with self.ctx.db.write() as tx:
            row = gate_store.latest(tx, view.run_id, key, lock=True)
            assert row is not None
            if row.is_open:
                who = Who(actor, origin, body.reason, request_id)
                return self._accept(tx, row, view.workflow_id, body, who)
        # Another answer (or the deadline) closed the gate while this one was checked.
        return _settled(row, body)

    def _accept(
        self,
        tx: Tx,
        row: GateView,
        workflow_id: str,
        body: GateAnswer,
        who: Who,
    ) -> GateReceipt:
        actor, origin = who.actor, who.origin
        gate = row.gate()
        if not runs.change_run(tx, row.run_id, lifecycle.answered()):
            raise errors.GateNotOpen(
                f"run {row.run_id} is not waiting for gate {row.key!r}",
                run_id=row.run_id,
                gate=row.key,
            )
        at = runs.now()
        status = Outcome.REJECTED if gates.rejects(gate, body.answer) else Outcome.ANSWERED
        said = Said(body.answer, actor, origin.value, body.dedupeKey, body.reason)
        settled = gate_store.settle(tx, row.gate_id, status, at=at, said=said)
        assert settled  # the row is locked (PostgreSQL), or the database is (SQLite)
        gate_store.ledger(tx, row.gate_id, row.run_id, gate, LedgerKind.ANSWERED, at=at, said=said)
        audit.record(
            tx,
            row.run_id,
            Action.ANSWER,
            who,
            before=RunStatus.WAITING_INPUT.value,
            after=RunStatus.RUNNING.value,
            detail={"gate": row.key, "outcome": status.value},
        )
        self.ctx.client.send_in_transaction(
            tx, workflow_id, {"gate_id": row.gate_id}, topic=gate.topic
        )
        return GateReceipt(
            run_id=row.run_id,
            key=row.key,
            answer=body.answer,
            actor=actor,
            origin=origin.value,
            answered_at=runs.iso(at),
        )

    def answer_event(
        self,
        run_id: str,
        event: EventRequest,
        *,
        actor: str,
        origin: Origin,
        request_id: str | None = None,
    ) -> None:
        """[API-4] `POST /runs/{id}/events`: the event's type names the gate (the `ask`
        lane's is `input`); only a run waiting for input takes one."""
        view = self.reads.view(run_id)
        lifecycle.check_answer(view.run_id, view.kind, view.status, event.type)
        with self.ctx.db.read() as tx:
            found = gate_store.latest(tx, view.run_id, event.type)
        if found is None and event.type == gates.INPUT_GATE:
            who = Who(actor, origin, None, request_id)
            self._answer_unrecorded(view.run_id, view.workflow_id, event, who)
            return
        if found is None or not found.is_open:
            raise errors.EventNotExpected(
                f"run {view.run_id} waits for no {event.type!r} event", run_id=view.run_id
            )
        self.answer(
            view.run_id,
            event.type,
            GateAnswer(answer=event.payload),
            actor=actor,
            origin=origin,
            request_id=request_id,
        )

    def _answer_unrecorded(
        self, run_id: str, workflow_id: str, event: EventRequest, who: Who
    ) -> None:
        """A run of release 3 waits in `AwaitInput` with no gate row: the status flip and
        the message commit together, so of two racing answers exactly one is accepted."""
        with self.ctx.db.write() as tx:
            if not runs.change_run(tx, run_id, lifecycle.answered()):
                raise errors.EventNotExpected("the run stopped waiting for input", run_id=run_id)
            audit.record(
                tx,
                run_id,
                Action.ANSWER,
                who,
                before=RunStatus.WAITING_INPUT.value,
                after=RunStatus.RUNNING.value,
                detail={"gate": event.type},
            )
            self.ctx.client.send_in_transaction(tx, workflow_id, event.payload, topic=INPUT_TOPIC)

    def inbox(self, *, status: str, limit: int, offset: int) -> list[GateView]:
        with self.ctx.db.read() as tx:
            return gate_store.inbox(tx, status=status, limit=limit, offset=offset)


def _settled(row: GateView, body: GateAnswer) -> GateReceipt:
    """The receipt of a gate closed already, when `body` repeats its answer; a 409
    naming the gate and when it closed otherwise."""
    where = {"run_id": row.run_id, "gate": row.key}
    if row.status == Outcome.TIMED_OUT:
        raise errors.GateNotOpen(
            f"gate {row.key!r} of run {row.run_id} timed out at {row.answered_at}",
            answeredAt=row.answered_at,
            **where,
        )
    same = gates.same_answer(row.answer, body.answer)
    if body.dedupeKey is not None and body.dedupeKey == row.dedupe_key and not same:
        raise errors.DedupeKeyReused(
            f"dedupeKey {body.dedupeKey!r} answered gate {row.key!r} with another answer",
            **where,
        )
    if same and body.dedupeKey in (None, row.dedupe_key):
        return GateReceipt(
            run_id=row.run_id,
            key=row.key,
            answer=row.answer,
            actor=row.actor,
            origin=row.origin,
            answered_at=row.answered_at,
            duplicate=True,
        )
    raise errors.GateAlreadyAnswered(
        f"gate {row.key!r} of run {row.run_id} was answered at {row.answered_at} by {row.actor}",
        answeredAt=row.answered_at,
        answeredBy=row.actor,
        **where,
    )
