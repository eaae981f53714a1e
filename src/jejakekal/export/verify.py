"""Check a run bundle alone, with no database: what an auditor runs on a bundle they were handed.

A bundle folder or its zip is read whole into memory; then every file is judged against
what the bundle itself claims: the manifest's hashes and sizes, the one canonical JSON
spelling of each bundle file, each artifact's bytes against `artifacts.json`, and every
citation against the bundled docir, through the same functions that verified it when the
memo was written. Each finding names a file and what differs; none means the bundle is
whole and consistent. The manifest is not signed, so a bundle rewritten consistently
throughout (every hash recomputed) would pass: verify proves integrity, not origin.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from jejakekal.domain.artifact_bodies import ChunkIndex, DocIR, UnverifiedMemo
from jejakekal.domain.canonical import canonical_json
from jejakekal.domain.documents import DocumentInvariantError, check_docir
from jejakekal.domain.memo import verify_memo
from jejakekal.export.archive import unzip_bundle
from jejakekal.export.bundle import BODIES_DIR, BUNDLE_FORMAT, MANIFEST, citations_of, json_file

ARTIFACTS = "artifacts.json"
CITATIONS = "citations.json"
DOC_TYPES = ("docir", "chunk-index", "memo")
# What a tampered body can raise on its way through the domain's checks: each becomes a
# finding, never a crash, so one broken file does not hide the others.
MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError)


class BundleUnreadable(ValueError):
    """The path is neither a bundle folder nor a zip file."""


@dataclass(frozen=True)
class Mismatch:
    file: str
    detail: str

    def line(self) -> str:
        return f"{self.file}: {self.detail}"

    def to_json(self) -> dict[str, str]:
        return {"file": self.file, "detail": self.detail}


@dataclass(frozen=True)
class BundleCheck:
    files: int
    mismatches: tuple[Mismatch, ...]

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "files": self.files,
            "mismatches": [m.to_json() for m in self.mismatches],
        }


def read_bundle(path: Path) -> dict[str, bytes]:
    """Bundle path -> bytes, from a folder (recursively) or a zip."""
    if path.is_dir():
        return {
            p.relative_to(path).as_posix(): p.read_bytes()
            for p in sorted(path.rglob("*"))
            if p.is_file()
        }
    if path.is_file() and zipfile.is_zipfile(path):
        return unzip_bundle(path.read_bytes())
    if path.exists():
        raise BundleUnreadable(f"{path} is neither a bundle folder nor a zip file")
    raise BundleUnreadable(f"{path} does not exist")


def verify_path(path: Path) -> BundleCheck:
    return verify_bundle(read_bundle(path))


def verify_bundle(files: Mapping[str, bytes]) -> BundleCheck:
    """Every finding about the bundle, in a stable order (by check, then by file)."""
    artifacts = _artifact_entries(files)
    found = [
        *_manifest_findings(files),
        *_canonical_findings(files),
        *_artifact_findings(files, artifacts),
        *_citation_findings(files, artifacts),
    ]
    return BundleCheck(files=len(files), mismatches=tuple(found))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _load(files: Mapping[str, bytes], name: str) -> Any:
    """The file's JSON, or None when it is missing or unreadable (reported elsewhere)."""
    try:
        return json.loads(files[name])
    except (KeyError, ValueError):
        return None


def _manifest_findings(files: Mapping[str, bytes]) -> Iterator[Mismatch]:
    manifest = _load(files, MANIFEST)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        yield Mismatch(MANIFEST, "missing, or not a manifest (an object with a files list)")
        return
    if manifest.get("format") != BUNDLE_FORMAT:
        yield Mismatch(MANIFEST, f"format is {manifest.get('format')!r}, not {BUNDLE_FORMAT!r}")
    listed: set[str] = set()
    for entry in manifest["files"]:
        path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(path, str):
            yield Mismatch(MANIFEST, f"a files entry names no path: {entry!r}")
            continue
        if path in listed:
            yield Mismatch(MANIFEST, f"lists {path} twice")
        listed.add(path)
        yield from _listed_file_findings(files, path, entry)
    for path in sorted(files.keys() - listed - {MANIFEST}):
        yield Mismatch(path, "present in the bundle but not listed in the manifest")


def _listed_file_findings(
    files: Mapping[str, bytes], path: str, entry: dict[str, Any]
) -> Iterator[Mismatch]:
    data = files.get(path)
    if data is None:
        yield Mismatch(path, "listed in the manifest but missing from the bundle")
        return
    if len(data) != entry.get("size"):
        yield Mismatch(path, f"size is {len(data)}, the manifest says {entry.get('size')}")
    actual = _sha256(data)
    if actual != entry.get("sha256"):
        yield Mismatch(path, f"sha256 is {actual}, the manifest says {entry.get('sha256')}")


def _canonical_findings(files: Mapping[str, bytes]) -> Iterator[Mismatch]:
    """The bundle's own JSON files in their one canonical spelling; the artifacts' bytes
    are copies as stored and are judged by their hashes instead."""
    for name in sorted(files):
        if not name.endswith(".json") or name.startswith(BODIES_DIR):
            continue
        data = files[name]
        try:
            canonical = (canonical_json(json.loads(data), indent=2) + "\n").encode("utf-8")
        except ValueError:  # not UTF-8, not JSON, or NaN (which no canonical form has)
            yield Mismatch(name, "is not valid JSON")
            continue
        if canonical != data:
            at = next(
                (i for i, (a, b) in enumerate(zip(data, canonical, strict=False)) if a != b),
                min(len(data), len(canonical)),
            )
            yield Mismatch(name, f"is not canonical JSON (first difference at byte {at})")


def _artifact_entries(files: Mapping[str, bytes]) -> list[dict[str, Any]]:
    listed = _load(files, ARTIFACTS)
    if not isinstance(listed, list):
        return []
    return [entry for entry in listed if isinstance(entry, dict)]


def _artifact_findings(
    files: Mapping[str, bytes], entries: list[dict[str, Any]]
) -> Iterator[Mismatch]:
    if ARTIFACTS in files and not isinstance(_load(files, ARTIFACTS), list):
        yield Mismatch(ARTIFACTS, "is not a list of artifacts")
    held: set[str] = set()
    for entry in entries:
        name, path = entry.get("id"), entry.get("file")
        if not isinstance(path, str):
            yield Mismatch(ARTIFACTS, f"artifact {name} names no file holding its bytes")
            continue
        held.add(path)
        data = files.get(path)
        if data is None:
            yield Mismatch(path, f"the bytes of artifact {name} are missing")
            continue
        actual = _sha256(data)
        if actual != entry.get("sha256"):
            yield Mismatch(
                path, f"sha256 is {actual}, artifact {name} records {entry.get('sha256')}"
            )
        if len(data) != entry.get("size"):
            yield Mismatch(
                path, f"size is {len(data)}, artifact {name} records {entry.get('size')}"
            )
        if entry.get("bytes_match") is False:
            yield Mismatch(ARTIFACTS, f"artifact {name}: the export found its bytes changed")
    for path in sorted(p for p in files if p.startswith(BODIES_DIR) and p not in held):
        yield Mismatch(path, f"holds the bytes of no artifact in {ARTIFACTS}")


def _doc_bodies(
    files: Mapping[str, bytes], entries: list[dict[str, Any]]
) -> dict[str, tuple[str, bytes]]:
    """Document artifact type -> (bundle path, bytes), for those present."""
    found: dict[str, tuple[str, bytes]] = {}
    for entry in entries:
        kind, path = entry.get("type"), entry.get("file")
        if kind in DOC_TYPES and isinstance(path, str) and path in files:
            found[str(kind)] = (path, files[path])
    return found


def _citation_findings(
    files: Mapping[str, bytes], entries: list[dict[str, Any]]
) -> Iterator[Mismatch]:
    docs = _doc_bodies(files, entries)
    yield from _rederived_findings(files, {kind: data for kind, (_, data) in docs.items()})
    if set(docs) != set(DOC_TYPES):
        return
    try:
        docir: DocIR = json.loads(docs["docir"][1])
        index: ChunkIndex = json.loads(docs["chunk-index"][1])
        memo: UnverifiedMemo = json.loads(docs["memo"][1])
    except ValueError:
        yield Mismatch(CITATIONS, "the bundled docir, chunk index or memo is not JSON")
        return
    yield from _docir_findings(docs["docir"][0], docir)
    yield from _memo_input_findings(docs, memo)
    yield from _memo_findings(docs["memo"][0], memo, docir, index)
    yield from _listed_citation_findings(_load(files, CITATIONS), docir, index)


def _rederived_findings(
    files: Mapping[str, bytes], by_type: dict[str, bytes]
) -> Iterator[Mismatch]:
    """`citations.json` is derived from the memo, docir and chunk index: derive it again."""
    try:
        expected = json_file(citations_of(by_type))
    except MALFORMED as exc:
        yield Mismatch(CITATIONS, f"cannot be re-derived from the bundled artifacts: {exc!r}")
        return
    if files.get(CITATIONS) != expected:
        yield Mismatch(
            CITATIONS, "differs from the citations re-derived from the bundled memo and docir"
        )


def _docir_findings(path: str, docir: DocIR) -> Iterator[Mismatch]:
    try:
        check_docir(docir)
    except (DocumentInvariantError, *MALFORMED) as exc:
        yield Mismatch(path, f"the docir breaks an invariant: {exc}")


def _memo_input_findings(
    docs: dict[str, tuple[str, bytes]], memo: UnverifiedMemo
) -> Iterator[Mismatch]:
    """The memo names the docir and chunk index it was made from by hash."""
    inputs = memo.get("inputs") if isinstance(memo, dict) else None
    for given in inputs if isinstance(inputs, list) else []:
        kind = given.get("type") if isinstance(given, dict) else None
        if kind in docs and _sha256(docs[kind][1]) != given.get("sha256"):
            yield Mismatch(
                docs["memo"][0],
                f"was made from a {kind} of sha256 {given.get('sha256')}, "
                f"the bundled one is {_sha256(docs[kind][1])}",
            )


def _memo_findings(
    path: str, memo: UnverifiedMemo, docir: DocIR, index: ChunkIndex
) -> Iterator[Mismatch]:
    try:
        verification = verify_memo(memo, docir, index)
    except MALFORMED as exc:
        yield Mismatch(path, f"cannot be verified against the bundled docir: {exc!r}")
        return
    for claim in verification["claims"]:
        failed = [check for check in claim["checks"] if not check["ok"]]
        for check in failed:
            yield Mismatch(path, f"claim {claim['claim_id']}: {_describe(check)}")
        if claim["status"] != "verified" and not failed:
            yield Mismatch(path, f"claim {claim['claim_id']} is {claim['status']}")


def _listed_citation_findings(listed: Any, docir: DocIR, index: ChunkIndex) -> Iterator[Mismatch]:
    """Each citation `citations.json` shows, checked against the docir on its own."""
    citations = listed.get("citations") if isinstance(listed, dict) else None
    if not isinstance(citations, list):
        yield Mismatch(CITATIONS, "holds no citations list")
        return
    for number, citation in enumerate(citations):
        # One claim per citation: `verify_memo` checks each citation by itself.
        claim = {"claim_id": f"{number}", "citations": [citation]}
        try:
            verification = verify_memo(cast(UnverifiedMemo, {"claims": [claim]}), docir, index)
        except MALFORMED as exc:
            yield Mismatch(CITATIONS, f"citation {number} cannot be checked: {exc!r}")
            continue
        for check in verification["claims"][0]["checks"]:
            if check["check"] == "citation" and not check["ok"]:
                yield Mismatch(CITATIONS, f"citation {number}: {_describe(check)}")


def _describe(check: Mapping[str, Any]) -> str:
    problems = ", ".join(check["problems"])
    if check["check"] == "citation":
        where = f"{check.get('start')}-{check.get('end')} in chunk {check.get('chunk_id')}"
        return f"citation at {where}: {problems}"
    return f"claim text: {problems}"
