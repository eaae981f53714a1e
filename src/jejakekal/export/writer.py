"""The final write of a bundle: inside the bundles root, never half-visible."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from jejakekal.domain.ids import parse_run_id


def bundle_dir(root: Path, run_id: str) -> Path:
    """`<root>/<run_id>`, refusing any id that could lead outside the root."""
    parse_run_id(run_id)
    root = root.resolve()
    target = (root / run_id).resolve()
    if target.parent != root:
        raise ValueError(f"bundle path for {run_id!r} escapes the bundles root")
    return target


def write_bundle(root: Path, run_id: str, files: dict[str, bytes]) -> Path:
    """Write the files into a fresh folder, then swap it in by rename.

    Readers see the old bundle or the new one, never a mix; an identical bundle
    already in place is left untouched.
    """
    target = bundle_dir(root, run_id)
    root = target.parent
    root.mkdir(parents=True, exist_ok=True)
    if _same(target, files):
        return target
    staging = root / f".staging-{run_id}-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        for name, data in files.items():
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    except BaseException:
        # A full disk (or any failure) leaves no half-written staging folder behind.
        shutil.rmtree(staging, ignore_errors=True)
        raise
    retired = root / f".retired-{run_id}-{uuid.uuid4().hex}"
    if target.exists():
        target.rename(retired)
    staging.rename(target)
    shutil.rmtree(retired, ignore_errors=True)
    return target


def _same(target: Path, files: dict[str, bytes]) -> bool:
    if not target.is_dir():
        return False
    present = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    return present == set(files) and all(
        (target / name).read_bytes() == data for name, data in files.items()
    )
