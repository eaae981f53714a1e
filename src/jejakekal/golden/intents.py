"""Run the corpus's intent cases to the end, answering the gate a case asks to answer."""

from __future__ import annotations

import time

from jejakekal.bootstrap import Kernel
from jejakekal.domain.contracts import EventRequest, IntentCreate, RunRequest
from jejakekal.domain.gates import INPUT_GATE, Origin
from jejakekal.domain.lifecycle import RunStatus
from jejakekal.domain.views import RunView
from jejakekal.golden.corpus import INTENT_CASES

# Who answers a case's gate: it shows in the run view's gates and ledger.
ACTOR = "golden"
# The engine's statuses while a workflow can still write to the run's timeline.
_ENGINE_OPEN = ("PENDING", "ENQUEUED")


def start_intents(kernel: Kernel) -> dict[str, str]:
    """Case -> run id, for every intent case, each on a fresh intent."""
    started: dict[str, str] = {}
    for case, spec in INTENT_CASES.items():
        intent = IntentCreate.model_validate(
            {"goal": spec["goal"], "inputs": {}, "constraints": {}}
        )
        intent_id = kernel.control.create_intent(intent)
        body = RunRequest.model_validate(spec["run"])
        started[case] = kernel.control.start_intent_run(intent_id, body).run_id
    return started


def wait_intent(kernel: Kernel, case: str, run_id: str, timeout: float = 60.0) -> RunView:
    """The run's view once it has ended and the engine has closed its workflow: only
    then are its steps and timeline final."""
    answer = INTENT_CASES[case].get("answer")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = kernel.control.run_view(run_id)
        if view.status == RunStatus.WAITING_INPUT and answer is not None:
            event = EventRequest(type=INPUT_GATE, payload=answer)
            kernel.control.send_event(run_id, event, actor=ACTOR, origin=Origin.CLI)
        elif RunStatus(view.status).is_terminal and view.dbos_status not in _ENGINE_OPEN:
            return view
        time.sleep(0.01)
    raise TimeoutError(f"golden intent case {case} ({run_id}) did not end in {timeout:g}s")


def id_tokens(view: RunView) -> dict[str, str]:
    """An intent run's ids are new each time (the intent's is random, the run's derives
    from it): each becomes a token wherever it appears, inside strings too."""
    return {view.run_id: "<run-id>", view.workflow_id: "<intent-id>"}
