"""Where SQLite and PostgreSQL differ, one module each; the rest of storage asks `of(...)`."""

from __future__ import annotations

from typing import Any, Protocol

import sqlalchemy as sa

from jejakekal.storage.dialects import postgresql, sqlite


class Dialect(Protocol):
    """What a dialect module provides (see `sqlite.py` and `postgresql.py`)."""

    NAME: str

    def create_engine(self, url: str, *, pool_size: int) -> sa.Engine: ...

    def insert(self, table: sa.Table) -> Any: ...

    def hold_write_lock(self, conn: sa.Connection) -> None: ...

    def record_step_and_change(
        self,
        conn: sa.Connection,
        params: dict[str, object],
        columns: tuple[str, ...],
        *,
        guarded: bool,
    ) -> bool: ...


def named(name: str) -> Dialect:
    if name == sqlite.NAME:
        return sqlite
    if name == postgresql.NAME:
        return postgresql
    raise ValueError(f"unsupported database dialect {name!r}")


def of(conn: sa.Connection | sa.Engine) -> Dialect:
    return named(conn.dialect.name)
