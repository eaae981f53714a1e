"""Run the corpus on a fresh kernel and render each case as normalised files."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from pathlib import Path

from jejakekal.bootstrap import Kernel, build_kernel
from jejakekal.config import Settings
from jejakekal.domain.contracts import BlobRef, DocRunRequest, UploadedDocRun
from jejakekal.domain.formats import RAW_TYPES
from jejakekal.domain.views import RunView
from jejakekal.export.bundle import MANIFEST, json_file
from jejakekal.golden.corpus import CASES, FILE_CASES
from jejakekal.golden.intents import id_tokens, start_intents, wait_intent
from jejakekal.golden.normalise import NO_IDS, normalise
from jejakekal.storage.blobs import BlobStore

FILES = Path(__file__).parent / "files"
# Settings that change what a run records: the corpus runs with their defaults whatever
# the environment says, so a snapshot depends on the code alone.
PINNED: dict[str, object] = {"decider": "stub", "sandbox": "shell", "step_max_attempts": 3}


def _wait_done(kernel: Kernel, run_id: str, timeout: float = 60.0) -> RunView:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = kernel.control.run_view(run_id)
        if view.status in ("done", "error", "unknown"):
            return view
        time.sleep(0.01)
    raise TimeoutError(f"golden run {run_id} did not finish in {timeout:g}s")


def render(settings: Settings) -> dict[str, bytes]:
    """Relative path -> bytes for every case: `<case>/run_view.json`, `<case>/bundle/...`."""
    kernel = build_kernel(settings.with_overrides(**PINNED), "full")
    files: dict[str, bytes] = {}
    try:
        started = {
            case: kernel.control.start_doc_run(
                DocRunRequest.model_validate({**body, "workflowId": f"golden-{case}"})
            ).run_id
            for case, body in CASES.items()
        }
        started.update(
            {case: _upload(kernel, case, name, fmt) for case, (name, fmt) in FILE_CASES.items()}
        )
        intents = start_intents(kernel)
        for case, run_id in sorted(started.items()):
            files.update(_snapshot(kernel, case, _wait_done(kernel, run_id)))
        for case, run_id in sorted(intents.items()):
            view = wait_intent(kernel, case, run_id)
            files.update(_snapshot(kernel, case, view, id_tokens(view)))
    finally:
        kernel.close()
    return files


def _snapshot(
    kernel: Kernel, case: str, view: RunView, ids: Mapping[str, str] = NO_IDS
) -> dict[str, bytes]:
    """The case's normalised run view and bundle files."""
    files = {f"{case}/run_view.json": json_file(normalise(view.to_json(), ids=ids))}
    path = Path(kernel.control.export_run(view.run_id).run_bundle_path)
    # The bundle's JSON files; the artifacts' own bytes (in a folder) are pinned by the
    # sha256 that artifacts.json records for each.
    bundle = {
        p.name: json_file(normalise(json.loads(p.read_bytes()), ids=ids))
        for p in sorted(path.iterdir())
        if p.is_file() and p.name != MANIFEST
    }
    manifest = normalise(json.loads((path / MANIFEST).read_bytes()), ids=ids)
    # Hashes over the normalised files, so the manifest still proves their set.
    manifest["files"] = [
        {"path": name, "size": len(data), "sha256": _sha(data)}
        for name, data in sorted(bundle.items())
    ]
    bundle[MANIFEST] = json_file(manifest)
    files.update({f"{case}/bundle/{name}": data for name, data in bundle.items()})
    return files


def _upload(kernel: Kernel, case: str, name: str, fmt: str) -> str:
    """Start a run of a corpus file as an upload does: its bytes into the blob store."""
    data = (FILES / name).read_bytes()
    blob = BlobStore(kernel.settings.blobs_dir).put(data)
    upload = UploadedDocRun(
        blob=BlobRef(sha256=blob.sha256, size=blob.size, contentType=RAW_TYPES[fmt], filename=name),
        format=fmt,
    )
    return kernel.control.start_doc_upload(upload, f"golden-{case}").run_id


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
