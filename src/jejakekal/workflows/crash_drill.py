"""Workflow `crash_drill` (README, "Drills"): mark `s1`, sleep durably, mark `s2`.
Control flow only.

`jejakekal drill crash` kills the process during the sleep and restarts it; the
recovered workflow must finish with exactly one mark per step.
"""

from __future__ import annotations

from typing import Any

from dbos import DBOS
from pydantic import BaseModel, ConfigDict, Field

from jejakekal.storage import marks
from jejakekal.workflows.runtime import tx_step

WF_CRASH_DRILL = "crash_drill"
STEP_S1 = "s1"
STEP_S2 = "s2"


class CrashDrillInput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    run_id: str
    # The drill's window: the process is killed while this sleep is in progress.
    sleep_sec: float = Field(default=3.0, gt=0, le=600)


@DBOS.workflow(name=WF_CRASH_DRILL)
def crash_drill(request: dict[str, Any]) -> dict[str, Any]:
    inp = CrashDrillInput.model_validate(request)
    tx_step(STEP_S1, marks.mark_once, inp.run_id, STEP_S1)
    DBOS.sleep(inp.sleep_sec)
    tx_step(STEP_S2, marks.mark_once, inp.run_id, STEP_S2)
    return {"run_id": inp.run_id, "steps": [STEP_S1, STEP_S2]}
