"""A node's workspace (README, "Outputs"): the files put in before its command runs and
what the command left behind.

Only regular files count: symlinks and FIFOs a command leaves are neither followed nor
read, so a node cannot make the host read a file outside its workspace or block on a pipe.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
from collections.abc import Mapping
from pathlib import PurePosixPath

from jejakekal.domain.ports import OUT_DIR, OutFile


def check_file_names(files: Mapping[str, str]) -> None:
    """Raise ValueError unless every name is a relative path that stays in the workspace."""
    for name in files:
        path = PurePosixPath(name)
        if not path.parts or path.is_absolute() or ".." in path.parts or "\0" in name:
            raise ValueError(f"file {name!r}: a node's files need relative paths without '..'")


def write_files(workspace: str, files: Mapping[str, str]) -> None:
    """Write each file (UTF-8) under `workspace`, creating its folders; names are checked."""
    if not files:
        return
    check_file_names(files)
    root = os.path.realpath(workspace)
    for name, text in files.items():
        path = os.path.join(root, name)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            # A fresh workspace holds no symlinks, so this only guards against a future
            # caller writing into one a command has already touched.
            if os.path.commonpath([root, os.path.realpath(path)]) != root:
                raise ValueError(f"file {name!r} would land outside the workspace")
            # O_EXCL: "a/./b" and "a/b" name one file; the second is refused, not overwritten.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise ValueError(f"file {name!r} cannot be written: {exc.strerror}") from exc
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)


def reclaim(workspace: str) -> None:
    """Give the owner back read/write/search on everything the command left.

    A command may chmod its outputs to 000; that must hide nothing from hashing and block
    no removal. Symlinks are skipped, since chmod would follow them out of the workspace.
    """
    os.chmod(workspace, stat.S_IRWXU)
    for dirpath, dirnames, filenames in os.walk(workspace):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISDIR(mode):
                os.chmod(path, stat.S_IMODE(mode) | stat.S_IRWXU)
            elif stat.S_ISREG(mode):
                os.chmod(path, stat.S_IMODE(mode) | stat.S_IRUSR | stat.S_IWUSR)


def remove(workspace: str) -> None:
    # Best effort: a failure to tidy a temporary directory must not mask the result or error.
    with contextlib.suppress(OSError):
        reclaim(workspace)
    shutil.rmtree(workspace, ignore_errors=True)


def hash_tree(workspace: str) -> dict[str, str]:
    """Every regular file's sha256 by relative path, sorted by path."""
    files: dict[str, str] = {}
    for dirpath, _, filenames in os.walk(workspace):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if stat.S_ISREG(os.lstat(path).st_mode):
                files[os.path.relpath(path, workspace)] = sha256_file(path)
    return dict(sorted(files.items()))


def sha256_file(path: str) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def out_files(
    workspace: str, hashes: Mapping[str, str], max_files: int, max_bytes: int
) -> tuple[tuple[OutFile, ...], int]:
    """The first `max_files` regular files under `out/` by path, each cut at `max_bytes`,
    and how many more there were. `hashes` is the workspace's `hash_tree`: it already walked
    `out/` without following symlinks, so nothing is walked twice."""
    names = [name for name in hashes if name.startswith(f"{OUT_DIR}/")]
    kept = tuple(_out_file(workspace, name, hashes[name], max_bytes) for name in names[:max_files])
    return kept, len(names) - len(kept)


def _out_file(workspace: str, name: str, sha256: str, max_bytes: int) -> OutFile:
    fd = os.open(os.path.join(workspace, name), os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        size = os.fstat(fd).st_size
        return OutFile(path=name, content=handle.read(max_bytes), size=size, sha256=sha256)
