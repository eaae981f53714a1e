"""The app tables. Declared in schema `app`; on SQLite the engine maps `app` to `main`."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

APP_SCHEMA = "app"
metadata = sa.MetaData(schema=APP_SCHEMA)

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)

schema_migrations = sa.Table(
    "schema_migrations",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("applied_at", Timestamp, nullable=False),
)

intents = sa.Table(
    "intents",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("goal", sa.Text, nullable=False),
    sa.Column("inputs", Json, nullable=False),
    sa.Column("constraints", Json, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

recipes = sa.Table(
    "recipes",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("max_concurrency", sa.Integer, nullable=False),
    sa.Column("max_steps", sa.Integer, nullable=False),
    sa.Column("max_sandbox_minutes", sa.Float, nullable=False),
    sa.Column("spec", Json, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("intent_id", sa.Text, sa.ForeignKey("app.intents.id"), nullable=True),
    sa.Column("workflow_id", sa.Text, nullable=False, unique=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("last_step", sa.Text, nullable=True),
    sa.Column("retry_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_action", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("trace_id", sa.Text, nullable=True),
    sa.Column("recipe_name", sa.Text, nullable=True),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("request", Json, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    # A fork (README, "Operator actions"): the run it branched from, and at which step.
    sa.Column("parent_run_id", sa.Text, nullable=True),
    sa.Column("fork_step", sa.Text, nullable=True),
    sa.Index("ix_runs_created_at", "created_at"),
    sa.Index("ix_runs_intent_id", "intent_id"),
    sa.Index("ix_runs_status", "status"),
    sa.Index("ix_runs_parent", "parent_run_id"),
)

run_steps = sa.Table(
    "run_steps",
    metadata,
    sa.Column("run_id", sa.Text, sa.ForeignKey("app.runs.id"), nullable=False),
    sa.Column("step_id", sa.Text, nullable=False),
    sa.Column("phase", sa.Text, nullable=False),
    sa.Column("output", Json, nullable=False),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("finished_at", Timestamp, nullable=True),
    sa.PrimaryKeyConstraint("run_id", "step_id"),
)

opencode_calls = sa.Table(
    "opencode_calls",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("run_id", sa.Text, sa.ForeignKey("app.runs.id"), nullable=False),
    sa.Column("step_id", sa.Text, nullable=False),
    sa.Column("request", Json, nullable=False),
    sa.Column("response", Json, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

effects = sa.Table(
    "effects",
    metadata,
    sa.Column("effect_key", sa.Text, primary_key=True),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("step_id", sa.Text, nullable=False),
    sa.Column("result", Json, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_effects_run_id", "run_id"),
)

mock_receipts = sa.Table(
    "mock_receipts",
    metadata,
    sa.Column("receipt_key", sa.Text, primary_key=True),
    sa.Column("seen_count", sa.Integer, nullable=False),
    sa.Column("payload", Json, nullable=True),
    sa.Column("first_seen_at", Timestamp, nullable=False),
    sa.Column("last_seen_at", Timestamp, nullable=False),
)

marks = sa.Table(
    "marks",
    metadata,
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("step", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ux_marks_run_step", "run_id", "step", unique=True),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),  # <run_id>:<type>
    sa.Column("run_id", sa.Text, sa.ForeignKey("app.runs.id"), nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("visibility", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("content_type", sa.Text, nullable=False),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("producer_step", sa.Text, nullable=False),
    sa.Column("producer_function_id", sa.Integer, nullable=True),
    sa.Column("prov", Json, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_artifacts_run_id", "run_id"),
    sa.Index("ix_artifacts_type_created", "type", "created_at"),
)

# The searchable text of a document run. The full-text index beside it is dialect
# DDL (SQLite FTS5 table `chunks_fts`, PostgreSQL generated tsvector + GIN): see search.py.
chunks = sa.Table(
    "chunks",
    metadata,
    sa.Column("run_id", sa.Text, sa.ForeignKey("app.runs.id"), nullable=False),
    sa.Column("chunk_id", sa.Text, nullable=False),
    sa.Column("ord", sa.Integer, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("start", sa.Integer, nullable=False),
    sa.Column("end", sa.Integer, nullable=False),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.PrimaryKeyConstraint("run_id", "chunk_id"),
)

# One row per process that executes workflows: its heartbeat, and who recovered it.
workers = sa.Table(
    "workers",
    metadata,
    sa.Column("executor_id", sa.Text, primary_key=True),
    sa.Column("app_version", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("host", sa.Text, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at_ms", sa.BigInteger, nullable=False),
    sa.Column("last_seen_ms", sa.BigInteger, nullable=False),
    sa.Column("recovered_by", sa.Text, nullable=True),
    sa.Column("recovered_at_ms", sa.BigInteger, nullable=True),
)

# A human gate a run stopped at (README, "Human gates"): one row per gate per asking,
# id `<run_id>:<opening operation>` (e.g. `run-...:AwaitInput:plan#2`).
gates = sa.Table(
    "gates",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("run_id", sa.Text, sa.ForeignKey("app.runs.id"), nullable=False),
    sa.Column("gate_key", sa.Text, nullable=False),
    sa.Column("iteration", sa.Integer, nullable=False),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("question_sha256", sa.Text, nullable=False),
    sa.Column("spec", Json, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # open|answered|rejected|timed_out
    sa.Column("opened_at", Timestamp, nullable=False),
    sa.Column("deadline_at", Timestamp, nullable=True),
    sa.Column("escalated_at", Timestamp, nullable=True),
    sa.Column("answer", Json, nullable=True),
    sa.Column("actor", sa.Text, nullable=True),
    sa.Column("origin", sa.Text, nullable=True),
    sa.Column("dedupe_key", sa.Text, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("answered_at", Timestamp, nullable=True),
    sa.Index("ix_gates_run_key", "run_id", "gate_key"),
    sa.Index("ix_gates_status", "status", "opened_at"),
)

# The gate ledger: each gate opened, escalated, answered or timed out, once (id
# `<gate id>:<kind>`).
gate_ledger = sa.Table(
    "gate_ledger",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("gate_id", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text, sa.ForeignKey("app.runs.id"), nullable=False),
    sa.Column("gate_key", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("question_sha256", sa.Text, nullable=False),
    sa.Column("answer", Json, nullable=True),
    sa.Column("actor", sa.Text, nullable=True),
    sa.Column("origin", sa.Text, nullable=True),
    sa.Column("dedupe_key", sa.Text, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("at", Timestamp, nullable=False),
    sa.Index("ix_gate_ledger_run", "run_id", "at"),
)

# The audit of operator actions: one row per action on a run, written in the transaction
# of the action's effect (domain/audit.py).
operator_actions = sa.Table(
    "operator_actions",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("run_id", sa.Text, sa.ForeignKey("app.runs.id"), nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("origin", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("request_id", sa.Text, nullable=True),
    sa.Column("batch_id", sa.Text, nullable=True),
    sa.Column("status_before", sa.Text, nullable=True),
    sa.Column("status_after", sa.Text, nullable=True),
    sa.Column("detail", Json, nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Index("ix_operator_actions_run", "run_id", "at"),
    sa.Index("ix_operator_actions_batch", "batch_id"),
)

SEED_RECIPES = (
    {
        "name": "compile-default",
        "version": 1,
        "max_concurrency": 8,
        "max_steps": 64,
        "max_sandbox_minutes": 10.0,
        "spec": {"compiler": "compile-default/1", "sandbox": "shell"},
    },
    {
        "name": "sandbox-default",
        "version": 1,
        "max_concurrency": 20,
        "max_steps": 500,
        "max_sandbox_minutes": 30.0,
        "spec": {"compiler": "compile-default/1", "sandbox": "shell"},
    },
    # Release 3: the intent's `inputs.commands` are the nodes (README, "Planners and recipes").
    {
        "name": "script",
        "version": 1,
        "max_concurrency": 8,
        "max_steps": 64,
        "max_sandbox_minutes": 10.0,
        "spec": {"planner": "script", "sandbox": "shell", "max_commands": 16},
    },
    # An OpenAI-compatible endpoint plans the nodes (JEJAKEKAL_OPENAI_*).
    {
        "name": "openai",
        "version": 1,
        "max_concurrency": 8,
        "max_steps": 64,
        "max_sandbox_minutes": 10.0,
        "spec": {"planner": "openai", "sandbox": "shell", "max_commands": 16},
    },
    # The same, in a loop: plan, run, observe, plan again, until the model answers done.
    {
        "name": "agent",
        "version": 1,
        "max_concurrency": 8,
        "max_steps": 64,
        "max_sandbox_minutes": 10.0,
        "spec": {
            "planner": "openai",
            "sandbox": "shell",
            "max_commands": 16,
            "agent": {"max_iterations": 4},
        },
    },
    # The script recipe, with the plan shown to a human for approval before it runs.
    {
        "name": "script-approval",
        "version": 1,
        "max_concurrency": 8,
        "max_steps": 64,
        "max_sandbox_minutes": 10.0,
        "spec": {"planner": "script", "sandbox": "shell", "max_commands": 16, "approval": "plan"},
    },
)
