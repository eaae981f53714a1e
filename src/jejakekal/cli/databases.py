"""The checks a command makes on its database before it touches it.

Each raises an error `main()` prints as one line: `InvalidSetting` for a malformed URL,
`DatabaseUnavailable` for a database that is missing or cannot be reached. Storage is
imported inside the functions: `jejakekal --help` must not pay for SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from jejakekal.cli.output import fail, one_line
from jejakekal.config import check_database_url

if TYPE_CHECKING:
    from dbos import DBOSClient

    from jejakekal.storage.database import Database


def given_database(url: str, source: str = "--db") -> str:
    """A URL of a command that creates what it needs: well formed, and reachable."""
    from jejakekal.storage.probe import require_reachable

    require_reachable(check_database_url(url, source))
    return url


def existing_database(url: str, source: str = "--db") -> str:
    """A URL of a command that only reads or repairs: it must hold the product's tables.

    Nothing is created on the way, neither the SQLite file nor its folder.
    """
    from jejakekal.storage.probe import require_database

    require_database(check_database_url(url, source))
    return url


@contextmanager
def opened_client(url: str) -> Iterator[tuple[Database, DBOSClient]]:
    """The product's database (checked with `existing_database` first) and a DBOS client
    on its engine, reading and writing portable JSON as the product's processes do. A
    database that cannot be opened is one line."""
    import logging

    from dbos import DBOSClient, DBOSPortableJSONSerializer

    from jejakekal.storage.database import Database

    # DBOS logs a failed connection before raising it; the one-line `fail` says it all.
    logging.getLogger("dbos").setLevel(logging.CRITICAL)
    # What the checks cannot see fails here, in the database's own words.
    try:
        database = Database.open(url, pool_size=1)
    except Exception as exc:
        fail(f"cannot open the database: {one_line(exc)}")
    try:
        client = DBOSClient(
            system_database_engine=database.engine, serializer=DBOSPortableJSONSerializer()
        )
    except Exception as exc:
        database.dispose()
        fail(f"cannot open the database: {one_line(exc)}")
    try:
        yield database, client
    finally:
        client.destroy()
        database.dispose()
