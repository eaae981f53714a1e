"""The database handle: the one way to a transaction, for everything above storage.

`read()` is a connection that only reads; `write()` a transaction that commits when
its block ends, holding SQLite's write lock from its start (what it reads before its
first write is read under the lock) and turning a unique-key collision into
`AlreadyExists`. Nothing outside `storage/` begins a transaction itself (a test holds
that), so the dialect rules of a write live here, once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from jejakekal.storage import dialects
from jejakekal.storage.engine import create_engine

# What a transaction is, to the code that passes one to storage functions.
Tx = sa.Connection


class AlreadyExists(Exception):
    """A unique key was taken by a concurrent writer."""


class Database:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine  # for DBOS, which shares it; not for transactions
        self.dialect = dialects.of(engine)

    @classmethod
    def open(cls, url: str, *, pool_size: int = 20) -> Database:
        return cls(create_engine(url, pool_size=pool_size))

    @property
    def is_sqlite(self) -> bool:
        return self.dialect is dialects.sqlite

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Tx]:
        try:
            with self.engine.begin() as conn:
                self.dialect.hold_write_lock(conn)
                yield conn
        except sa.exc.IntegrityError as exc:
            raise AlreadyExists(str(exc.orig)) from exc

    def dispose(self) -> None:
        self.engine.dispose()
