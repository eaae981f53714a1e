"""Read-only views of DBOS's own tables, wherever the dialect keeps them."""

from __future__ import annotations

from functools import cache

import sqlalchemy as sa


def _schema(dialect: str) -> str | None:
    return None if dialect == "sqlite" else "dbos"


@cache
def workflow_status(dialect: str) -> sa.TableClause:
    return sa.table(
        "workflow_status",
        sa.column("workflow_uuid"),
        sa.column("status"),
        sa.column("name"),
        sa.column("recovery_attempts"),
        sa.column("application_version"),
        sa.column("executor_id"),
        sa.column("created_at"),
        sa.column("updated_at"),
        sa.column("queue_name"),
        schema=_schema(dialect),
    )


@cache
def operation_outputs(dialect: str) -> sa.TableClause:
    return sa.table(
        "operation_outputs",
        sa.column("workflow_uuid"),
        sa.column("function_id"),
        sa.column("function_name"),
        sa.column("started_at_epoch_ms"),
        sa.column("completed_at_epoch_ms"),
        sa.column("error"),
        sa.column("output"),
        sa.column("child_workflow_id"),
        schema=_schema(dialect),
    )


@cache
def notifications(dialect: str) -> sa.TableClause:
    return sa.table(
        "notifications",
        sa.column("destination_uuid"),
        sa.column("topic"),
        sa.column("consumed"),
        schema=_schema(dialect),
    )
