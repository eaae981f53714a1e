"""The checks a command makes on its database before it touches it.

Each raises an error `main()` prints as one line: `InvalidSetting` for a malformed URL,
`DatabaseUnavailable` for a database that is missing or cannot be reached. Storage is
imported inside the functions: `jejakekal --help` must not pay for SQLAlchemy.
"""

from __future__ import annotations

from jejakekal.config import check_database_url


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
