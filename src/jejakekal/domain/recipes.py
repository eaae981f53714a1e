"""What a recipe says about the runs it starts (README, "Planners and recipes").

A recipe row holds caps (columns) and a `spec` (JSON): which planner turns the intent
into nodes, whether the run loops (the agent loop), and the caps on a script's inputs
and a node's outputs. Unknown keys are ignored, so a spec written by a later release
still reads; a missing key takes its default, so the seeded recipes of release 1
(`{"compiler": ..., "sandbox": ...}`) are stub-planner recipes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from jejakekal.domain.ports import MAX_OUT_FILE_BYTES, MAX_OUT_FILES, OUTPUT_CAP_BYTES

PlannerName = Literal["stub", "script", "openai"]
# The recipe the `script` planner is seeded under.
SCRIPT_RECIPE = "script"
OPENAI_RECIPE = "openai"
AGENT_RECIPE = "agent"


class AgentLoop(BaseModel):
    """The agent loop: after each wave the planner sees the results and answers `done`
    or the next wave, at most `max_iterations` plans in all."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    max_iterations: int = Field(default=4, ge=1, le=32)


class RecipeSpec(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    compiler: str = "compile-default/1"
    sandbox: str = "shell"
    planner: PlannerName = "stub"
    agent: AgentLoop | None = None
    # `plan`: after DecideST the run waits for a human to approve the plan (README,
    # "Human gates").
    approval: Literal["plan"] | None = None
    # A command that exits non-zero is retried only when this is true; sandbox faults
    # (a timeout, a limit) always are.
    retry_nonzero: bool = False
    max_commands: int = Field(default=16, ge=1, le=1000)
    max_files: int = Field(default=16, ge=0, le=1000)
    max_file_bytes: int = Field(default=256 * 1024, ge=0)
    output_cap_bytes: int = Field(default=OUTPUT_CAP_BYTES, ge=1024)
    max_out_files: int = Field(default=MAX_OUT_FILES, ge=0)
    max_out_file_bytes: int = Field(default=MAX_OUT_FILE_BYTES, ge=0)

    @property
    def runs_foreign_commands(self) -> bool:
        """Whether its nodes run commands a user or a model wrote (the stub's are ours)."""
        return self.planner != "stub"

    @property
    def max_iterations(self) -> int:
        return self.agent.max_iterations if self.agent else 1
