"""How commands print: one line on stderr and a non-zero exit for a failure; table cells
kept to a length a terminal can take."""

from __future__ import annotations

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
