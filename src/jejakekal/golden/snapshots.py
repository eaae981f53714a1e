"""Run the corpus on a fresh kernel and render each case as normalised files."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from jejakekal.bootstrap import Kernel, build_kernel
from jejakekal.config import Settings
from jejakekal.domain.contracts import BlobRef, DocRunRequest, UploadedDocRun
from jejakekal.domain.formats import RAW_TYPES
from jejakekal.domain.views import RunView
from jejakekal.export.bundle import MANIFEST, json_file
from jejakekal.golden.corpus import CASES, FILE_CASES
from jejakekal.storage.blobs import BlobStore

FILES = Path(__file__).parent / "files"
TIME = "<time>"
VOLATILE_KEYS = {
    "executor_id": "<executor>",
    "owner_xid": "<owner>",
    "creator_xid": "<xid>",
    "run_bundle_path": "<path>",
    "application_id": "<app>",
    "application_version": "<version>",
    "app_version": "<version>",
}


def _volatile_time(key: str) -> bool:
    return key.endswith(("_at", "_epoch_ms", "At", "_timestamp"))


def normalise(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        if value.get("function_name") == "DBOS.sleep" and "output" in value:
            # A durable sleep's output is its wake-up time.
            value = {**value, "output": TIME}
        return {k: normalise(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, key) for v in value]
    if isinstance(value, bool):
        # SQLite stores DBOS's flags as 0/1, PostgreSQL as booleans: compare them alike.
        return int(value)
    if value == "null":
        return None  # likewise a JSON null that one dialect keeps as text
    if key in VOLATILE_KEYS and value is not None:
        return VOLATILE_KEYS[key]
    if _volatile_time(key) and value is not None:
        return TIME
    return value


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
    kernel = build_kernel(settings, "full")
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
        for case, run_id in sorted(started.items()):
            view = _wait_done(kernel, run_id)
            files[f"{case}/run_view.json"] = json_file(normalise(view.to_json()))
            path = Path(kernel.control.export_run(run_id).run_bundle_path)
            bundle = {
                p.name: json_file(normalise(json.loads(p.read_bytes())))
                for p in sorted(path.iterdir())
                if p.name != MANIFEST
            }
            manifest = normalise(json.loads((path / MANIFEST).read_bytes()))
            # Hashes over the normalised files, so the manifest still proves their set.
            manifest["files"] = [
                {"path": name, "size": len(data), "sha256": _sha(data)}
                for name, data in sorted(bundle.items())
            ]
            bundle[MANIFEST] = json_file(manifest)
            files.update({f"{case}/bundle/{name}": data for name, data in bundle.items()})
    finally:
        kernel.close()
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
