"""`jejakekal verify PATH`: check a bundle folder or zip offline, with no database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from jejakekal.cli.output import fail
from jejakekal.export.verify import BundleUnreadable, verify_path


def verify(
    path: Annotated[Path, typer.Argument(help="A bundle folder, or its zip.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the findings as one JSON object.")
    ] = False,
) -> None:
    """Check a bundle's manifest, canonical JSON, artifact bytes and citations; non-zero
    exit, one line per mismatch, when anything differs."""
    try:
        checked = verify_path(path)
    except BundleUnreadable as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(checked.to_json(), indent=2, ensure_ascii=False))
    else:
        for mismatch in checked.mismatches:
            typer.echo(mismatch.line())
    if not checked.ok:
        fail(f"{len(checked.mismatches)} mismatch(es) in {path}")
    if not as_json:
        typer.echo(f"verified {checked.files} files in {path}")
