"""The bundle check: a fresh run, exported and verified offline, as an operator would.

A `jejakekal api` on a scratch home (embedded SQLite) runs one document through
`jejakekal ingest --wait`; once it has stopped, `jejakekal export` writes the bundle and
`jejakekal verify` checks it with no database.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from jejakekal.domain.jsontypes import JsonObject
from jejakekal.processes import free_port, log_tail, spawn, stop, wait_healthy
from jejakekal.signoff.commands import Runner

STEP_SEC = 120.0
SAMPLE = """# Signoff sample

A run exported for the auditor: its bundle must verify offline.

## Evidence

Every artifact's bytes match the sha256 its manifest records.
"""


def verify_fresh_bundle(
    run: Runner, base_env: dict[str, str], scratch: Path
) -> tuple[bool, JsonObject]:
    home = scratch / "bundle-home"
    home.mkdir()
    port = free_port()
    env = {
        **base_env,
        "JEJAKEKAL_HOME": str(home),
        "JEJAKEKAL_DATABASE_URL": f"sqlite:///{home / 'jejakekal.sqlite'}",
        "API_PORT": str(port),
    }
    sample = scratch / "signoff-sample.md"
    sample.write_text(SAMPLE)
    evidence: JsonObject = {}
    run_id = _ingested(run, env, home, port, sample, evidence)
    if run_id is None:
        return False, evidence
    exported = run(["export", run_id], STEP_SEC, env=env)
    evidence["export"] = exported.evidence()
    if not exported.ok or not exported.stdout.strip():
        return False, evidence
    bundle = exported.stdout.strip().splitlines()[-1]
    evidence["bundle"] = bundle
    verified = run(["verify", bundle], STEP_SEC, env=env)
    evidence["verify"] = {**verified.evidence(), "said": verified.stdout.strip().splitlines()[-5:]}
    caught = _tamper_caught(run, env, Path(bundle), scratch / "tampered", evidence)
    return verified.ok and caught, evidence


def _tamper_caught(
    run: Runner, env: dict[str, str], bundle: Path, copy: Path, evidence: JsonObject
) -> bool:
    """A verify that passes everything proves nothing: one changed byte in a copy of the
    bundle must fail it, naming the file."""
    shutil.copytree(bundle, copy)
    victim = sorted(p for p in copy.rglob("*") if p.is_file() and p.name != "manifest.json")[0]
    victim.write_bytes(victim.read_bytes() + b" ")
    named = str(victim.relative_to(copy))
    refused = run(["verify", str(copy)], STEP_SEC, env=env)
    said = refused.stdout + refused.stderr
    evidence["verify_tampered"] = {
        "changed": named,
        "exit": refused.returncode,
        "named": named in said,
    }
    return refused.returncode == 1 and named in said


def _ingested(
    run: Runner, env: dict[str, str], home: Path, port: int, sample: Path, evidence: JsonObject
) -> str | None:
    """The id of the sample's run once it is `done`, or None with the reason in `evidence`."""
    log = home / "api.log"
    base = f"http://127.0.0.1:{port}"
    api = spawn(["api"], env, log)
    try:
        wait_healthy(base, api, timeout=STEP_SEC, why=lambda: log_tail(log))
        ingested = run(
            ["ingest", str(sample), "--wait", "--json", "--api-url", base], STEP_SEC, env=env
        )
    finally:
        stop([api])
    evidence["ingest"] = ingested.evidence()
    try:
        row = json.loads(ingested.stdout)[0]
    except (ValueError, IndexError, KeyError):
        evidence["error"] = "ingest printed no run"
        return None
    evidence["run"] = {"id": row.get("runId"), "status": row.get("status")}
    if not ingested.ok or row.get("status") != "done":
        evidence["error"] = f"the sample run ended {row.get('status')}: {row.get('error')}"
        evidence["api_log"] = log_tail(log)
        return None
    return str(row["runId"])
