"""Record the corpus's files, or diff them against what is recorded."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path


def record(folder: Path, files: dict[str, bytes]) -> None:
    """Replace the recorded snapshots with these files (review the diff before you do)."""
    if folder.exists():
        shutil.rmtree(folder)
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _recorded(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def changed(folder: Path, files: dict[str, bytes]) -> list[str]:
    """The `<case>/<file>` paths that differ, are missing, or are new; [] if equal."""
    recorded = _recorded(folder)
    return sorted(n for n in recorded.keys() | files.keys() if recorded.get(n) != files.get(n))


def diff(folder: Path, files: dict[str, bytes]) -> list[str]:
    """Unified diff lines between the recorded snapshots and these files; [] if equal."""
    recorded = _recorded(folder)
    lines: list[str] = []
    for name in sorted(recorded.keys() | files.keys()):
        old = recorded.get(name, b"").decode("utf-8").splitlines(keepends=True)
        new = files.get(name, b"").decode("utf-8").splitlines(keepends=True)
        if old != new or (name in recorded) != (name in files):
            lines += difflib.unified_diff(old, new, f"recorded/{name}", f"now/{name}")
    return lines
