"""The planners that call nothing [ADP-PLAN]: `stub` (the courses' demo lanes) and
`script` (the intent's own commands). The `openai` planner is in planner_openai.py.

Both are deterministic: the same request always gives the same reply, so a replayed
CompileST needs no ledger for them.
"""

from __future__ import annotations

from jejakekal.domain.compiler import COMPILER_VERSION, lanes_of, stub_nodes
from jejakekal.domain.gates import parse_gates
from jejakekal.domain.ports import PlannerReply, PlanRequest
from jejakekal.domain.recipes import RecipeSpec
from jejakekal.domain.script import script_inputs, script_nodes

SCRIPT_COMPILER = "script/1"
_NO_CAPS = {"max_commands": 1000, "max_files": 1000, "max_file_bytes": 2**31}


class StubPlanner:
    name = "stub"

    def plan(self, request: PlanRequest) -> PlannerReply:
        if request.iteration > 1:
            return PlannerReply(
                done=True, answer="stub: nothing more to do", compiler=COMPILER_VERSION
            )
        lanes = lanes_of(request.goal)
        nodes = stub_nodes(request.goal, request.steps, lanes)
        return PlannerReply(nodes=tuple(nodes), compiler=COMPILER_VERSION, lanes=lanes)


class ScriptPlanner:
    """The intent's `inputs.commands`, one node each (validated when the run started)."""

    name = "script"

    def plan(self, request: PlanRequest) -> PlannerReply:
        if request.iteration > 1:
            # In a loop, a script has said all it has to say after its one wave.
            return PlannerReply(done=True, answer=_summary(request), compiler=SCRIPT_COMPILER)
        # The recipe's caps were checked when the run started; the shape is checked again.
        script = script_inputs(request.inputs, RecipeSpec(planner="script", **_NO_CAPS))
        return PlannerReply(
            nodes=tuple(script_nodes(script)),
            compiler=SCRIPT_COMPILER,
            files=script.files,
            gates=tuple(parse_gates(script.gates, "inputs.gates")),
        )


def _summary(request: PlanRequest) -> str:
    lines = [f"{o.node_id}: exit {o.exit_code}" for o in request.observations]
    return "\n".join(lines) or "no nodes ran"
