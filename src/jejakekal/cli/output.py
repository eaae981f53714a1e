"""How commands print: one line on stderr and a non-zero exit for a failure; table cells
kept to a length a terminal can take."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from jejakekal.domain.errors import JejakekalError

# A table cell longer than this is cut. No id is cut: the id grammar allows 128 characters.
CELL_LIMIT = 128


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def describe(exc: JejakekalError) -> str:
    """The error's message and the ids it names, on one line."""
    named = ", ".join(f"{key} {value}" for key, value in exc.fields.items())
    return f"{exc.message} ({named})" if named else exc.message


def one_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def shorten(cell: str) -> tuple[str, bool]:
    """`cell` cut to `CELL_LIMIT` characters with an ellipsis, and whether it was cut."""
    if len(cell) <= CELL_LIMIT:
        return cell, False
    return cell[: CELL_LIMIT - 1] + "…", True


def print_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A table with each cell cut to `CELL_LIMIT` (and a note when one was). Piped output
    gets the full width: ids must not be cut."""
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns)
    shortened = 0
    for row in rows:
        cells = [shorten(cell) for cell in row]
        shortened += sum(cut for _, cut in cells)
        table.add_row(*(text for text, _ in cells))
    console = Console() if sys.stdout.isatty() else Console(width=10_000)
    console.print(table)
    if shortened:
        console.print(
            f"{shortened} cell(s) shortened to {CELL_LIMIT} characters; --json prints them whole",
            highlight=False,
        )


def login_name() -> str:
    """The operator's login name, for the audit; `cli` where the system has none."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "cli"
