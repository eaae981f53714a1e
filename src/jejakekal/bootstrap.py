"""Composition root: database, migrations, DBOS, adapters and the use cases.

Roles: `full` runs the API's use cases and executes workflows; `shim` only
validates, writes and enqueues through DBOSClient and never imports a workflow
module; `worker` executes workflows and serves no public HTTP.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from dbos import DBOS, DBOSClient, DBOSPortableJSONSerializer

from jejakekal import runlog
from jejakekal.config import Settings
from jejakekal.control import Control
from jejakekal.domain import names
from jejakekal.domain.ports import Decider, DocumentParser, Planner, Sandbox
from jejakekal.storage.database import Database
from jejakekal.storage.engine import dbos_url, normalise_url
from jejakekal.storage.migrations import migrate, migration_lock

Role = Literal["full", "shim", "worker"]


@dataclass(frozen=True)
class Adapters:
    """What the kernel reaches outside itself. `build_kernel` makes the configured ones
    unless given these (tests give fakes; no monkeypatching)."""

    decider: Decider
    sandbox: Sandbox
    parsers: Mapping[str, DocumentParser]
    planners: Mapping[str, Planner] = field(default_factory=dict)  # by recipe `planner`


def make_adapters(settings: Settings) -> Adapters:
    return Adapters(
        decider=make_decider(settings),
        sandbox=make_sandbox(settings),
        parsers=make_parsers(),
        planners=make_planners(settings),
    )


def make_planners(settings: Settings) -> dict[str, Planner]:
    """[ADP-PLAN] Every planner a recipe may name (RecipeSpec.planner)."""
    from jejakekal.adapters.planner_openai import OpenAIPlanner
    from jejakekal.adapters.planners import ScriptPlanner, StubPlanner

    return {
        "stub": StubPlanner(),
        "script": ScriptPlanner(),
        "openai": OpenAIPlanner(
            settings.openai_base_url, settings.openai_model, settings.openai_api_key
        ),
    }


@dataclass
class Kernel:
    settings: Settings
    role: Role
    db: Database
    control: Control
    _dbos: DBOS | None = field(default=None, repr=False)
    _heartbeat: Any = field(default=None, repr=False)
    _pacing: Any = field(default=None, repr=False)
    _wakeups: Any = field(default=None, repr=False)

    @property
    def db_kind(self) -> str:
        return "sqlite" if self.db.is_sqlite else "postgresql"

    @property
    def queue_pace(self) -> str | None:
        """How this process paces the queues: `busy`, `idle` or `off`; none without workflows."""
        return None if self._pacing is None else str(self._pacing.state)

    def close(self) -> None:
        if self._pacing is not None:
            self._pacing.stop()
        if self._wakeups is not None:
            self._wakeups.stop()
        if self._heartbeat is not None:
            self._heartbeat.stop()
        self.control.client.destroy()
        if self._dbos is not None:
            DBOS.destroy(destroy_registry=False)
            self._dbos = None
            if self.settings.otlp_traces_url is not None:
                _flush_spans()
        self.db.dispose()


def _flush_spans() -> None:
    """Export the spans still batched: the exporter sends them every few seconds, and a
    process stopping before then would lose the last runs' spans."""
    from opentelemetry import trace

    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if flush is not None:
        flush(5_000)


def make_decider(settings: Settings) -> Decider:
    from jejakekal.adapters.decider import OpenAIDecider, StubDecider

    if settings.decider == "openai":
        return OpenAIDecider(
            settings.openai_base_url, settings.openai_model, settings.openai_api_key
        )
    return StubDecider()


def make_parsers() -> dict[str, DocumentParser]:
    from jejakekal.adapters.parsers import MarkdownParser, TextParser

    return {"text": TextParser(), "markdown": MarkdownParser()}


def make_sandbox(settings: Settings) -> Sandbox:
    from jejakekal.adapters.sandbox_shell import ShellSandbox, remove_orphan_workspaces

    # JEJAKEKAL_SANDBOX names one of these; config refuses any other name.
    sandboxes = {"shell": ShellSandbox}
    # Workspaces of sandbox processes killed mid-node (their nodes run again elsewhere).
    removed = remove_orphan_workspaces()
    if removed:
        logging.getLogger("jejakekal.sandbox").info(
            "removed %d workspace(s) of dead processes", len(removed)
        )
    return sandboxes[settings.sandbox]()


def executor_id_for(settings: Settings, role: Role) -> str:
    """`local` for the one-process setups (their restart recovers their own runs), a
    name unique to the process for workers, unless the operator chose one. A second
    live process under the same id is refused at start (`fleet.claim_executor_id`)."""
    if settings.executor_id:
        return settings.executor_id
    if role == "worker":
        return f"worker-{socket.gethostname()}-{os.getpid()}"
    return "local"


def dbos_config(settings: Settings, db: Database) -> dict[str, Any]:
    return {
        "name": "jejakekal",
        "system_database_url": dbos_url(normalise_url(settings.resolved_database_url)),
        "system_database_engine": db.engine,
        "application_version": settings.app_version,
        "executor_id": settings.executor_id or "local",
        # On SQLite the wakeups stretch it while runs wait (workflows/wakeups.py).
        "notification_listener_polling_interval_sec": settings.queue_poll_sec,
        "serializer": DBOSPortableJSONSerializer(),
        "log_level": settings.log_level,
        **otlp_config(settings),
    }


def otlp_config(settings: Settings) -> dict[str, Any]:
    """DBOS's tracing of workflows and steps, exported over OTLP/HTTP (ADR 0016); nothing
    without JEJAKEKAL_OTLP_ENDPOINT: DBOS then opens no span and builds no exporter."""
    if settings.otlp_traces_url is None:
        return {}
    return {
        "enable_otlp": True,
        "otlp_traces_endpoints": [settings.otlp_traces_url],
        # dbos.operation.workflow_id rather than operationUUID: beside our jejakekal.*
        "otel_attribute_format": "semconv",
    }


def prepare_database(settings: Settings, db: Database) -> None:
    """Migrate our tables, then DBOS's, so even a process that runs no workflow
    (the shim, `db reset`) finds both. Ours first: that creates a SQLite file in WAL.
    One lock covers both: a fleet starting together on a new database would otherwise
    race to create the same schemas."""
    with migration_lock(db):
        migrate(db)
        DBOS.migrate(dbos_url(normalise_url(settings.resolved_database_url)))


def build_kernel(
    settings: Settings, role: Role = "full", *, adapters: Adapters | None = None
) -> Kernel:
    """Build and launch everything a process of `role` needs, in dependency order.

    `adapters` replace the configured decider, sandbox and parsers (workflows only)."""
    logging.getLogger("dbos").setLevel(settings.log_level)
    runlog.install()  # one line per run outcome; DBOS's tracebacks of them dropped
    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database.open(settings.resolved_database_url)
    prepare_database(settings, db)
    dbos: DBOS | None = None
    start_doc = None
    heartbeat = pacing = wakeups = None
    sandbox: Sandbox | None = None
    if role in ("full", "worker"):
        settings = settings.with_overrides(executor_id=executor_id_for(settings, role))
        heartbeat = _claim_and_beat(settings, db, role)
        try:
            dbos, sandbox = _launch_dbos(settings, db, adapters)
        except BaseException:
            heartbeat.stop()
            db.dispose()
            raise
        heartbeat.recover_peers()
        from jejakekal.workflows.doc_ingest import start_doc_ingest
        from jejakekal.workflows.pacing import QueuePacing

        start_doc = start_doc_ingest
        pacing = QueuePacing(db, fast_intervals(settings), settings.queue_idle_poll_sec)
        pacing.start()
        if db.is_sqlite:
            from jejakekal.workflows.wakeups import RecvWakeups, dbos_waits

            wakeups = RecvWakeups(db, dbos_waits(dbos), settings.queue_poll_sec)
            wakeups.start()
    client = DBOSClient(system_database_engine=db.engine, serializer=DBOSPortableJSONSerializer())
    control = Control(settings, db, client, start_doc, _isolation_of(settings, sandbox))
    if start_doc is not None:
        control.adopt_orphan_doc_runs()
    return Kernel(settings, role, db, control, dbos, heartbeat, pacing, wakeups)


def _claim_and_beat(settings: Settings, db: Database, role: Role) -> Any:
    """Claim this process's executor id and beat from now on, or raise ExecutorIdInUse.

    Before launch: DBOS recovers the id's pending runs at launch, and a live holder's
    runs are its own, not ours (two `serve` on one home both defaulted to `local`)."""
    from jejakekal.workflows.fleet import Heartbeat, claim_executor_id

    executor_id = settings.executor_id or "local"
    try:
        claim_executor_id(db, executor_id, settings.app_version, role)
    except BaseException:
        db.dispose()
        raise
    heartbeat = Heartbeat(db, executor_id, settings.app_version, role)
    heartbeat.start()
    return heartbeat


def _launch_dbos(
    settings: Settings, db: Database, adapters: Adapters | None
) -> tuple[DBOS, Sandbox]:
    # Imported here: importing the workflows registers them, which the shim must not do.
    from jejakekal.workflows import bench, crash_drill, doc_ingest, intent  # noqa: F401  (registers the workflows)
    from jejakekal.workflows.runtime import ResultPacer, Runtime, bind

    dbos = DBOS(config=dbos_config(settings, db))  # type: ignore[arg-type]
    # Bound before launch: launch recovers pending workflows, which need the runtime.
    use = adapters or make_adapters(settings)
    planners = {**make_planners(settings), **use.planners}
    pacer = ResultPacer(settings.result_poll_sec)
    bind(Runtime(settings, db, use.decider, use.sandbox, pacer, use.parsers, planners))
    DBOS.launch()
    for name, sec in fast_intervals(settings).items():
        DBOS.register_queue(name, polling_interval_sec=sec)
    return dbos, use.sandbox


def _isolation_of(settings: Settings, sandbox: Sandbox | None) -> Callable[[], str]:
    """What a node would run under: this process's sandbox, or (a process that runs no
    workflows) the configured one, probed on first use."""
    if sandbox is not None:
        return lambda: sandbox.isolation
    probed: list[str] = []

    def isolation() -> str:
        if not probed:
            probed.append(make_sandbox(settings).isolation)
        return probed[0]

    return isolation


def fast_intervals(settings: Settings) -> dict[str, float]:
    """Each queue's polling interval while it has work (`QueuePacing` slows them when not)."""
    poll = settings.queue_poll_sec
    return {
        names.INTENT_QUEUE: poll,
        names.SANDBOX_QUEUE: poll,
        # Only an API-only process enqueues document runs (others start them directly):
        # a slower poll keeps this mostly idle queue cheap.
        names.DOC_QUEUE: poll * 5,
    }
