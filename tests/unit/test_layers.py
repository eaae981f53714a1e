"""Only `storage/` opens transactions and imports SQLAlchemy; everything else asks a
`Database` for `read()` or `write()`.

import-linter forbids SQLAlchemy in some layers; this covers every module outside
`storage/`, and the transaction calls import-linter cannot see (a `.begin()` on an
engine handed in from elsewhere imports nothing).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import jejakekal

PACKAGE = Path(jejakekal.__file__).parent
STORAGE = PACKAGE / "storage"
TRANSACTION_CALLS = {"begin", "connect"}
HOW_TO_FIX = (
    "outside src/jejakekal/storage/, take a `Database` and use `db.read()` / `db.write()` "
    "(or a storage function that does); SQLAlchemy and transactions stay in storage/"
)


def offences(source: str) -> list[str]:
    """Each SQLAlchemy import and `.begin(`/`.connect(` call in `source`, with its line."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            modules = []
        found += [f"{node.lineno}: imports {m}" for m in modules if m.split(".")[0] == "sqlalchemy"]
        call = node.func if isinstance(node, ast.Call) else None
        if isinstance(call, ast.Attribute) and call.attr in TRANSACTION_CALLS:
            found.append(f"{node.lineno}: calls {ast.unparse(call)}()")
    return found


def _outside_storage() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if STORAGE not in p.parents)


def test_the_scan_covers_the_layers_above_storage() -> None:
    scanned = {p.relative_to(PACKAGE).parts[0] for p in _outside_storage()}
    assert {"api", "web", "cli", "control", "workflows", "bench", "drills", "app.py"} <= scanned
    assert "storage" not in scanned


def test_no_module_outside_storage_opens_a_transaction_or_imports_sqlalchemy() -> None:
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{offence}"
        for path in _outside_storage()
        for offence in offences(path.read_text())
    ]
    assert found == [], HOW_TO_FIX + ":\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("with engine.begin() as conn: pass", ["1: calls engine.begin()"]),
        ("with kernel.db.engine.connect() as conn: pass", ["1: calls kernel.db.engine.connect()"]),
        ("import sqlalchemy as sa", ["1: imports sqlalchemy"]),
        ("def f():\n    from sqlalchemy.orm import Session", ["2: imports sqlalchemy.orm"]),
        ("with db.write() as tx: tx.execute(stmt)", []),
        ("from jejakekal.storage.database import Database", []),
    ],
)
def test_the_scan_finds_what_it_forbids(source: str, expected: list[str]) -> None:
    assert offences(source) == expected
