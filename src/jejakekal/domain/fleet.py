"""What an operator sees of the whole fleet at one moment: runs by kind and status, the
queues' depths, the workers and their heartbeats, the open gates, the recent failures
and how long steps take.

One read model (`storage/fleet.py`) builds it; `GET /ops`, `GET /metrics`, the UI's
operations page and `jejakekal status` show it. Times of our tables are ISO-8601
strings; DBOS's and the workers' heartbeats stay epoch milliseconds, as elsewhere.
"""

from __future__ import annotations

from pydantic import Field

from jejakekal.domain.lifecycle import DocStatus, RunKind, RunStatus
from jejakekal.domain.views import View

# The statuses a run of each kind can be shown with (`lifecycle.view_status`).
KIND_STATUSES: dict[RunKind, tuple[str, ...]] = {
    RunKind.INTENT: tuple(s.value for s in RunStatus),
    RunKind.DOC: tuple(s.value for s in DocStatus),
}
# The view statuses a "retry all failed" button and the failed-runs list mean.
FAILED_STATUSES = (RunStatus.FAILED.value, RunStatus.RETRIES_EXCEEDED.value, DocStatus.ERROR.value)
# Upper bounds (seconds) of the step-duration histogram's buckets; +Inf is implied.
STEP_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class RunCount(View):
    kind: RunKind
    status: str
    count: int


class QueueDepth(View):
    """One DBOS queue: workflows waiting for a worker, and those a worker has taken."""

    queue: str
    enqueued: int
    pending: int


class WorkerBeat(View):
    """One row of `app.workers`: a process that executes workflows, and its heartbeat.
    `last_seen_ms` is 0 after a clean shutdown."""

    executor_id: str = Field(alias="executorId")
    role: str
    host: str
    pid: int
    app_version: str = Field(alias="appVersion")
    started_at_ms: int = Field(alias="startedAtMs")
    last_seen_ms: int = Field(alias="lastSeenMs")
    age_s: float | None = Field(alias="ageSeconds")  # None once it has shut down
    alive: bool
    recovered_by: str | None = Field(default=None, alias="recoveredBy")


class OpenGate(View):
    run_id: str = Field(alias="runId")
    key: str
    question: str
    opened_at: str | None = Field(alias="openedAt")
    age_s: float = Field(alias="ageSeconds")


class OpenGates(View):
    """Gates a running run waits on (a cancelled run's open gate waits for no one)."""

    count: int
    oldest_opened_at: str | None = Field(alias="oldestOpenedAt")
    oldest_age_s: float | None = Field(alias="oldestAgeSeconds")
    items: tuple[OpenGate, ...]  # the oldest first, at most the read model's limit


class FailedRun(View):
    run_id: str = Field(alias="runId")
    kind: RunKind
    status: str
    at: str | None  # when the run's row last changed: its failure
    error: str | None


class StepDurations(View):
    """How long one step name took over the recent steps sampled: cumulative counts per
    bucket upper bound (`STEP_BUCKETS_S`, then +Inf as `count`)."""

    step: str
    count: int
    sum_s: float = Field(alias="sumSeconds")
    buckets: tuple[int, ...]  # cumulative, one per STEP_BUCKETS_S bound


class Fleet(View):
    """`GET /ops`: the fleet as read at `at_ms`."""

    at_ms: int = Field(alias="atMs")
    runs: tuple[RunCount, ...]
    queues: tuple[QueueDepth, ...]
    workers: tuple[WorkerBeat, ...]
    dead_after_s: float = Field(alias="deadAfterSeconds")
    open_gates: OpenGates = Field(alias="openGates")
    failed_total: int = Field(alias="failedTotal")
    failed: tuple[FailedRun, ...]  # the most recent first, at most the read model's limit
    step_sample: int = Field(alias="stepSample")  # at most this many recent steps are timed
    steps: tuple[StepDurations, ...]

    @property
    def workers_alive(self) -> int:
        return sum(w.alive for w in self.workers)

    def to_json(self) -> dict[str, object]:
        return {**super().to_json(), "workersAlive": self.workers_alive}

    def runs_of(self, status: str) -> int:
        return sum(r.count for r in self.runs if r.status == status)
