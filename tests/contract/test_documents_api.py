"""Contract tests of the document API [API-6, API-8..10]: course 004
(docs/runs.md, "Document runs" and "Export bundles").

Every test runs once on SQLite and once on PostgreSQL against `api`: a real server with
a DBOS worker on a fresh database. SQL is the oracle for every claim about what was (or
was not) written, the bundle on disk for every claim about an export; the HTTP replies
are only the claim.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import sqlalchemy as sa

from conftest import JSON, MIB, Api, q

TYPES = ["raw", "docir", "chunk-index", "memo"]
DOC_STEPS = ["prepare", "DBOS.sleep", "side-effect", "finalize"]
BUNDLE_FILES = {
    "manifest.json",
    "timeline.json",
    "tool-io.json",
    "artifacts.json",
    "citations.json",
    "workflow_status.json",
    "operation_outputs.json",
}
# Each artifact's stored bytes, as stored (issue 25: verify re-hashes them offline).
BODY_FILES = {
    "artifacts/raw.txt",
    "artifacts/docir.json",
    "artifacts/chunk-index.json",
    "artifacts/memo.json",
}
COURSE_SOURCE = "alpha\nbeta [low]\ngamma"
TEXT_TYPE = "text/plain; charset=utf-8"


# -- helpers ---------------------------------------------------------------------------


def write_counts(api: Api) -> dict[str, int]:
    """Row counts of every table a document start or run could write, in one read."""
    rows = api.sql(
        "SELECT (SELECT COUNT(*) FROM app.runs) AS runs,"
        " (SELECT COUNT(*) FROM dbos.workflow_status) AS workflows,"
        " (SELECT COUNT(*) FROM app.artifacts) AS artifacts,"
        " (SELECT COUNT(*) FROM app.chunks) AS chunks,"
        " (SELECT COUNT(*) FROM app.effects) AS effects"
    )
    return {k: int(v) for k, v in rows[0].items()}


def assert_error(reply: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    body: dict[str, Any] = reply.json()
    assert (body.get("error"), body.get("code")) == (code, code), body
    assert isinstance(body.get("message"), str), body
    assert body["message"], body
    return body


def start_doc(api: Api, body: dict[str, Any]) -> str:
    reply = api.client.post("/runs", json=body)
    assert reply.status_code == 202, reply.text
    assert reply.json()["status"] == "running", reply.text
    return str(reply.json()["run_id"])


def run_doc(api: Api, source: str, sleep_ms: int = 5, **extra: Any) -> str:
    """Start a document run and wait until it is `done` (a failed run fails the test)."""
    run_id = start_doc(api, {"source": source, "sleepMs": sleep_ms, **extra})
    view = wait_terminal(api, run_id)
    assert view["status"] == "done", view
    return run_id


def wait_terminal(api: Api, run_id: str, timeout: float = 60.0) -> dict[str, Any]:
    # Not `unknown`: a run is briefly without an engine row between its commit and
    # its workflow's start, which the run view reports as `unknown`.
    return api.wait_status(run_id, "done", "error", timeout=timeout)


def artifact(api: Api, run_id: str, artifact_type: str) -> dict[str, Any]:
    reply = api.client.get(f"/artifacts/{run_id}:{artifact_type}")
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


def download(api: Api, run_id: str, artifact_type: str) -> httpx.Response:
    reply = api.client.get(f"/artifacts/{run_id}:{artifact_type}/download")
    assert reply.status_code == 200, reply.text
    return reply


def export(api: Api, run_id: str) -> dict[str, Any]:
    reply = api.client.get(f"/runs/{run_id}/export")
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


def bundle_bytes(path: Path) -> dict[str, bytes]:
    return {
        p.relative_to(path).as_posix(): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def canonical(data: bytes) -> bytes:
    """The canonical form of a bundle file's JSON: what its bytes must already be."""
    text = json.dumps(json.loads(data), sort_keys=True, indent=2, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def send_raw_path(api: Api, method: str, raw_path: str) -> httpx.Response:
    """Send `raw_path` as given: percent escapes and dots are not normalised away."""
    request = api.client.build_request(method, "/")
    request.url = request.url.copy_with(raw_path=raw_path.encode("ascii"))
    assert request.url.raw_path == raw_path.encode("ascii")
    return api.client.send(request)


def tamper_operation_output(api: Api, workflow_id: str, function_name: str, value: str) -> int:
    """A direct write to DBOS's step record, as the course's tamper drill does it."""
    url = sa.make_url(api.settings.resolved_database_url)
    if api.is_sqlite:
        assert url.database
        conn = sqlite3.connect(url.database, timeout=30)
        try:
            # On SQLite the DBOS tables live unqualified in the one file.
            cursor = conn.execute(
                "UPDATE operation_outputs SET output = ?"
                " WHERE workflow_uuid = ? AND function_name = ?",
                (value, workflow_id, function_name),
            )
            conn.commit()
            return cursor.rowcount
        finally:
            conn.close()
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as pg:
        updated = pg.execute(
            "UPDATE dbos.operation_outputs SET output = %s"
            " WHERE workflow_uuid = %s AND function_name = %s",
            (value, workflow_id, function_name),
        )
        return updated.rowcount


# -- course 004 section 2: the happy path ----------------------------------------------


def test_a_document_start_returns_running_after_a_durable_start(api: Api) -> None:
    reply = api.client.post("/runs", json={"source": COURSE_SOURCE, "sleepMs": 500})

    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert body["status"] == "running"
    run_id = body["run_id"]
    workflows = q(
        "SELECT COUNT(*) FROM dbos.workflow_status WHERE workflow_uuid = '{run}'", run=run_id
    )
    runs = q("SELECT COUNT(*) FROM app.runs WHERE id = '{run}' AND kind = 'doc'", run=run_id)
    assert (api.count(workflows), api.count(runs)) == (1, 1)
    assert wait_terminal(api, run_id)["status"] == "done"


def test_a_document_run_ends_done_with_its_four_steps_in_order(api: Api) -> None:
    run_id = start_doc(api, {"source": COURSE_SOURCE, "sleepMs": 500})

    view = wait_terminal(api, run_id)

    assert (view["status"], view["dbos_status"], view["kind"]) == ("done", "SUCCESS", "doc")
    assert view["run_id"] == run_id
    assert [op["function_name"] for op in view["timeline"]] == DOC_STEPS
    ids = [op["function_id"] for op in view["timeline"]]
    assert ids == list(range(ids[0], ids[0] + len(DOC_STEPS)))
    assert [op["error"] for op in view["timeline"]] == [None] * len(DOC_STEPS)
    assert view["artifacts"] == [f"{run_id}:{t}" for t in TYPES]


def test_the_run_view_agrees_with_the_engine_tables(api: Api) -> None:
    run_id = start_doc(api, {"source": COURSE_SOURCE, "sleepMs": 500})
    view = wait_terminal(api, run_id)

    status = api.sql(
        q(
            "SELECT workflow_uuid, status, name, recovery_attempts, executor_id"
            " FROM dbos.workflow_status WHERE workflow_uuid = '{run}'",
            run=run_id,
        )
    )
    ops = api.sql(
        q(
            "SELECT function_id, function_name FROM dbos.operation_outputs"
            " WHERE workflow_uuid = '{run}' ORDER BY function_id ASC",
            run=run_id,
        )
    )

    assert [(r["workflow_uuid"], r["status"], r["name"]) for r in status] == [
        (run_id, "SUCCESS", "doc_ingest")
    ]
    assert view["header"]["name"] == "doc_ingest"
    assert view["header"]["recovery_attempts"] == int(status[0]["recovery_attempts"])
    assert [(int(r["function_id"]), r["function_name"]) for r in ops] == [
        (op["function_id"], op["function_name"]) for op in view["timeline"]
    ]


def test_artifact_list_filters_by_type_visibility_and_run(api: Api) -> None:
    run_id = run_doc(api, COURSE_SOURCE)

    raws = api.client.get("/artifacts", params={"type": "raw", "visibility": "user"})
    by_run = api.client.get("/artifacts", params={"run_id": run_id})
    memos = api.client.get("/artifacts", params={"type": "memo", "visibility": "internal"})

    assert raws.status_code == by_run.status_code == memos.status_code == 200
    listed = {a["id"]: a for a in raws.json()}
    assert (listed[f"{run_id}:raw"]["run_id"], listed[f"{run_id}:raw"]["type"]) == (run_id, "raw")
    assert {a["type"] for a in raws.json()} == {"raw"}
    assert [a["id"] for a in by_run.json()] == [f"{run_id}:{t}" for t in TYPES]
    stored = api.sql(
        q("SELECT id, sha256, size FROM app.artifacts WHERE run_id = '{run}'", run=run_id)
    )
    assert {(a["id"], a["sha256"], a["size"]) for a in by_run.json()} == {
        (r["id"], r["sha256"], int(r["size"])) for r in stored
    }
    assert memos.json() == []


def test_artifact_detail_names_the_side_effect_step_that_produced_it(api: Api) -> None:
    run_id = run_doc(api, COURSE_SOURCE)
    view = api.client.get(f"/runs/{run_id}").json()
    side_effect_id = next(
        op["function_id"] for op in view["timeline"] if op["function_name"] == "side-effect"
    )

    details = {t: artifact(api, run_id, t) for t in TYPES}

    for artifact_type, detail in details.items():
        assert set(detail) == {"meta", "content", "prov"}, artifact_type
        assert detail["meta"]["id"] == f"{run_id}:{artifact_type}"
        assert detail["meta"]["producer_step"] == "side-effect"
        assert detail["meta"]["producer_function_id"] == side_effect_id, artifact_type
        assert detail["prov"]["step"] == "side-effect"
        assert detail["prov"]["producer_function_id"] == side_effect_id, artifact_type
    assert details["raw"]["content"] == COURSE_SOURCE
    sha = {t: details[t]["meta"]["sha256"] for t in TYPES}
    assert details["docir"]["prov"]["inputs"] == [{"type": "raw", "sha256": sha["raw"]}]
    assert details["chunk-index"]["prov"]["inputs"] == [{"type": "docir", "sha256": sha["docir"]}]
    assert details["memo"]["prov"]["inputs"] == [
        {"type": "docir", "sha256": sha["docir"]},
        {"type": "chunk-index", "sha256": sha["chunk-index"]},
    ]


def test_download_returns_the_stored_bytes_as_an_attachment(api: Api) -> None:
    run_id = run_doc(api, COURSE_SOURCE)

    replies = {t: download(api, run_id, t) for t in TYPES}

    assert replies["raw"].content == COURSE_SOURCE.encode("utf-8")
    assert replies["raw"].headers["content-type"] == TEXT_TYPE
    for artifact_type, reply in replies.items():
        meta = artifact(api, run_id, artifact_type)["meta"]
        assert reply.headers["content-type"] == meta["content_type"], artifact_type
        assert (sha256(reply.content), len(reply.content)) == (meta["sha256"], meta["size"])
        assert reply.headers["content-disposition"].startswith("attachment"), artifact_type
        assert reply.headers["x-content-type-options"] == "nosniff"


# -- course 004 section 7: the export bundle -------------------------------------------


def test_export_lists_the_four_artifacts_and_writes_a_bundle_with_their_bytes(api: Api) -> None:
    run_id = run_doc(api, COURSE_SOURCE)

    described = export(api, run_id)

    assert (described["run_id"], described["status"], described["dbos_status"]) == (
        run_id,
        "done",
        "SUCCESS",
    )
    assert [a["id"] for a in described["artifacts"]] == TYPES
    path = Path(described["run_bundle_path"])
    assert path.resolve() == (api.settings.bundles_dir / run_id).resolve()
    files = bundle_bytes(path)
    assert set(files) == BUNDLE_FILES | BODY_FILES
    for name in BUNDLE_FILES:
        assert files[name] == canonical(files[name]), name
    manifest = json.loads(files["manifest.json"])
    assert manifest["root"] == "<run-bundle-root>"
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == {
        name: sha256(data) for name, data in files.items() if name != "manifest.json"
    }
    bundled = json.loads(files["artifacts.json"])
    assert [(a["type"], a["sha256"]) for a in bundled] == [
        (a["id"], a["sha256"]) for a in described["artifacts"]
    ]
    assert [sha256(files[a["file"]]) for a in bundled] == [a["sha256"] for a in bundled]


def test_a_second_export_of_a_finished_run_is_byte_identical(api: Api) -> None:
    run_id = run_doc(api, COURSE_SOURCE)
    first = export(api, run_id)
    first_files = bundle_bytes(Path(first["run_bundle_path"]))

    second = export(api, run_id)

    assert second == first
    assert bundle_bytes(Path(second["run_bundle_path"])) == first_files


# -- docir: low confidence, unicode, newlines ------------------------------------------


def test_a_low_marked_line_gets_low_confidence_and_routes_ocr_required(api: Api) -> None:
    run_id = run_doc(api, COURSE_SOURCE)
    clean_id = run_doc(api, "alpha\nbeta\ngamma")

    docir = artifact(api, run_id, "docir")["content"]
    clean = artifact(api, clean_id, "docir")["content"]

    text = docir["text"]
    confidence = {text[b["start"] : b["end"]]: b["confidence"] for b in docir["blocks"]}
    assert docir["ocr_required"] is True
    assert confidence["beta [low]"] < 0.5
    assert confidence["alpha"] == confidence["gamma"] == 1.0
    low = [b["block_id"] for b in docir["blocks"] if "[low]" in text[b["start"] : b["end"]]]
    assert docir["low_confidence_blocks"] == low
    assert clean["ocr_required"] is False
    assert clean["low_confidence_blocks"] == []


def test_unicode_and_crlf_sources_download_byte_identical(api: Api) -> None:
    source = "naïve café 🚀\r\nzweite Zeile\r\n中文\rlone cr\n\n  indented  "

    run_id = run_doc(api, source)

    raw = download(api, run_id, "raw")
    assert raw.content == source.encode("utf-8")
    assert artifact(api, run_id, "raw")["content"] == source
    docir = artifact(api, run_id, "docir")["content"]
    assert docir["text"] == source.replace("\r\n", "\n").replace("\r", "\n")
    lines = [docir["text"][b["start"] : b["end"]] for b in docir["blocks"]]
    assert lines == ["naïve café 🚀", "zweite Zeile", "中文", "lone cr", "  indented  "]


def test_a_doc_command_ingests_the_text_after_the_command(api: Api) -> None:
    text = "alpha beta gamma ünïcödé\r\nsecond line"

    run_id = start_doc(api, {"cmd": f"/doc {text}", "sleepMs": 5})
    view = wait_terminal(api, run_id)

    assert view["status"] == "done", view
    assert download(api, run_id, "raw").content == text.encode("utf-8")


def test_a_markdown_source_keeps_its_bytes_and_markdown_content_type(api: Api) -> None:
    source = "# Title\r\n\r\n- item one [low]\r\n- item two\r\n"

    run_id = run_doc(api, source, format="markdown")

    raw = download(api, run_id, "raw")
    assert raw.content == source.encode("utf-8")
    assert raw.headers["content-type"] == "text/markdown; charset=utf-8"
    assert artifact(api, run_id, "docir")["content"]["ocr_required"] is True


# -- memo citations --------------------------------------------------------------------


def test_every_memo_citation_quotes_the_docir_inside_its_chunk(api: Api) -> None:
    long_line = " ".join(f"word{i}" for i in range(300))  # longer than one chunk
    source = (
        "First claim here. More text after it.\n"
        "Zweiter Satz mit Ümlauten 🚀! Noch einer.\n"
        f"{long_line}\n"
        "Last line without a full stop"
    )
    run_id = run_doc(api, source)
    docir = artifact(api, run_id, "docir")["content"]
    index = artifact(api, run_id, "chunk-index")["content"]
    memo = artifact(api, run_id, "memo")["content"]

    chunks = {c["chunk_id"]: c for c in index["chunks"]}
    text = docir["text"]
    citations = [cite for claim in memo["claims"] for cite in claim["citations"]]
    assert len(memo["claims"]) >= 3
    assert any(len(claim["citations"]) > 1 for claim in memo["claims"])
    for cite in citations:
        assert cite["quote"] == text[cite["start"] : cite["end"]], cite
        assert cite["quote_sha256"] == sha256(cite["quote"].encode("utf-8"))
        chunk = chunks[cite["chunk_id"]]
        assert chunk["start"] <= cite["start"] < cite["end"] <= chunk["end"], cite
    assert memo["verification"]["overall"] == "verified"

    bundle = Path(export(api, run_id)["run_bundle_path"])
    checked = json.loads((bundle / "citations.json").read_bytes())
    assert checked["overall"] == "verified"
    assert [c["status"] for c in checked["claims"]] == ["verified"] * len(memo["claims"])
    assert [
        (c["chunk_id"], c["start"], c["end"], c["quote"], c["claim_status"])
        for c in checked["citations"]
    ] == [(c["chunk_id"], c["start"], c["end"], c["quote"], "verified") for c in citations]


# -- exactly once under concurrency ----------------------------------------------------


def test_thirty_concurrent_runs_each_write_every_artifact_exactly_once(api: Api) -> None:
    count = 30
    sources = [f"concurrent document {i}\nsecond line {i} [low]" for i in range(count)]
    gate = threading.Barrier(count)

    def start(i: int) -> httpx.Response:
        with httpx.Client(base_url=api.base_url, timeout=60) as client:
            gate.wait()
            return client.post("/runs", json={"source": sources[i], "sleepMs": 50})

    with ThreadPoolExecutor(max_workers=count) as pool:
        replies = list(pool.map(start, range(count)))
    assert [r.status_code for r in replies] == [202] * count, [r.text for r in replies]
    run_ids = {r.json()["run_id"] for r in replies}
    views = [wait_terminal(api, run_id, timeout=90) for run_id in sorted(run_ids)]

    assert len(run_ids) == count
    assert [v["status"] for v in views] == ["done"] * count, [
        v for v in views if v["status"] != "done"
    ]
    produced = api.sql(
        "SELECT run_id, type, COUNT(*) AS n FROM app.artifacts GROUP BY run_id, type"
    )
    assert len(produced) == count * len(TYPES)
    assert {(r["run_id"], r["type"]) for r in produced} == {
        (run_id, t) for run_id in run_ids for t in TYPES
    }
    assert {int(r["n"]) for r in produced} == {1}
    effects = api.sql(
        "SELECT run_id, effect_key, COUNT(*) AS n FROM app.effects GROUP BY run_id, effect_key"
    )
    assert sorted((r["run_id"], r["effect_key"], int(r["n"])) for r in effects) == sorted(
        (run_id, f"{run_id}:side-effect", 1) for run_id in run_ids
    )
    for i, reply in enumerate(replies):
        assert download(api, reply.json()["run_id"], "raw").content == sources[i].encode()


# -- search ----------------------------------------------------------------------------


def test_search_finds_the_chunk_holding_a_distinctive_word(api: Api) -> None:
    run_id = run_doc(api, "ordinary opening line\nthe zebrafish glows at night\nclosing line")
    index = artifact(api, run_id, "chunk-index")["content"]

    reply = api.client.get("/search", params={"q": "zebrafish"})

    assert reply.status_code == 200, reply.text
    hits = reply.json()
    assert [h["run_id"] for h in hits] == [run_id]
    hit = hits[0]
    chunk = next(c for c in index["chunks"] if c["chunk_id"] == hit["chunk_id"])
    assert (hit["start"], hit["end"]) == (chunk["start"], chunk["end"])
    text = artifact(api, run_id, "docir")["content"]["text"]
    assert "zebrafish" in text[hit["start"] : hit["end"]]
    assert "zebrafish" in hit["snippet"]
    assert isinstance(hit["score"], int | float)


def test_search_filters_by_run_id(api: Api) -> None:
    first = run_doc(api, "lanternfish in the first document")
    second = run_doc(api, "lanternfish in the second document")

    both = api.client.get("/search", params={"q": "lanternfish"})
    only = api.client.get("/search", params={"q": "lanternfish", "run_id": first})
    none = api.client.get("/search", params={"q": "lanternfish", "run_id": "doc-absent"})

    assert both.status_code == only.status_code == none.status_code == 200
    assert sorted(h["run_id"] for h in both.json()) == sorted([first, second])
    assert [h["run_id"] for h in only.json()] == [first]
    assert none.json() == []


def test_search_treats_query_syntax_as_words_and_never_fails(api: Api) -> None:
    run_doc(api, "foo bar near the quokka\nplain words only")
    hostile = [
        "?!.,;:",
        "***",
        '"foo',
        "a OR",
        "NEAR(",
        "foo AND",
        "NOT",
        "(",
        ")",
        "^foo",
        "text:foo",
        "foo*",
        "' OR 1=1 --",
        "\\",
        "%",
        "foo & | ! <-> bar",
        "🚀",
    ]

    replies = {query: api.client.get("/search", params={"q": query}) for query in hostile}

    for query, reply in replies.items():
        assert reply.status_code == 200, (query, reply.text)
        assert isinstance(reply.json(), list), query
    for query in ["?!.,;:", "***", "(", ")", "\\", "%", "🚀"]:
        assert replies[query].json() == [], query
    assert len(replies['"foo'].json()) == 1
    assert len(replies["text:foo"].json()) == 0  # both words must match; `text` is absent


# -- hostile inputs: typed 4xx, zero writes --------------------------------------------


def test_malformed_document_starts_answer_typed_400_and_write_nothing(api: Api) -> None:
    cases = [
        b"{",
        b"",
        b"[]",
        b'"source"',
        b'{"source":"x","extra":1}',
        b'{"source":"x","sleepMs":"5"}',
        b'{"source":5}',
        b'{"source":"x","sleepMs":1.5}',
        b'{"source":"x","sleepMs":true}',
        b'{"source":"x","sleepMs":-1}',
        b'{"source":"x","sleepMs":600001}',
        b'{"source":"x","cmd":"/doc x"}',
        b'{"sleepMs":5}',
        b"{}",
        b'{"cmd":"doc x"}',
        b'{"cmd":"/docx"}',
        b'{"cmd":"/doc"}',
        b'{"cmd":"/doc    "}',
        b'{"source":""}',
        b'{"source":" \\n\\t\\r\\n "}',
        b'{"source":null}',
        b'{"source":"x","format":"pdf"}',
        b'{"source":"x","workflowId":5}',
        b'{"source":"x","workflowId":""}',
    ]
    for raw in cases:
        before = write_counts(api)

        reply = api.client.post("/runs", content=raw, headers=JSON)

        code = "invalid_json" if raw in (b"{", b"") else "invalid_run_request"
        assert_error(reply, 400, code)
        assert write_counts(api) == before, raw


def test_a_workflow_id_outside_the_id_grammar_is_refused_and_writes_nothing(api: Api) -> None:
    for workflow_id in ["../escape", "a/b", "..", "-lead", "a" * 129, "wf id"]:
        before = write_counts(api)

        reply = api.client.post("/runs", json={"source": "x", "workflowId": workflow_id})

        assert_error(reply, 400, "invalid_run_request")
        assert write_counts(api) == before, workflow_id


def test_a_document_body_over_one_mebibyte_is_refused_and_writes_nothing(api: Api) -> None:
    huge = json.dumps({"source": "x" * MIB}).encode()
    chunks = [huge[i : i + 65_536] for i in range(0, len(huge), 65_536)]
    before = write_counts(api)

    declared = api.client.post("/runs", content=huge, headers=JSON)
    # Chunked, so there is no Content-Length to trust: the reader must count.
    streamed = api.client.post("/runs", content=iter(chunks), headers=JSON)

    assert_error(declared, 413, "payload_too_large")
    assert_error(streamed, 413, "payload_too_large")
    assert write_counts(api) == before


def test_encoded_traversal_ids_in_paths_are_refused_and_write_nothing(api: Api) -> None:
    run_id = run_doc(api, COURSE_SOURCE)
    cases = [
        ("GET", "/runs/%2E%2E", "invalid_run_id", "run_id"),
        ("GET", "/runs/%2e%2e", "invalid_run_id", "run_id"),
        ("GET", "/runs/..%2Fx/export", "invalid_run_id", "run_id"),
        ("GET", "/runs/%2E%2E/export", "invalid_run_id", "run_id"),
        ("GET", f"/runs/..%2F{run_id}/export", "invalid_run_id", "run_id"),
        ("GET", "/artifacts/..%2Fx", "invalid_artifact_id", "artifact_id"),
        ("GET", "/artifacts/%2E%2E/download", "invalid_artifact_id", "artifact_id"),
        ("GET", f"/artifacts/..%2F{run_id}:raw/download", "invalid_artifact_id", "artifact_id"),
        ("GET", "/search?q=alpha&run_id=..%2Fx", "invalid_run_id", "run_id"),
        ("GET", "/artifacts?run_id=%2E%2E", "invalid_run_id", "run_id"),
    ]
    for method, raw_path, code, field in cases:
        before = write_counts(api)

        reply = send_raw_path(api, method, raw_path)

        # A server that saw the path normalised (`/runs/..` -> `/`) would answer a
        # routing 404; only the encoded segment, decoded once, yields these codes.
        body = assert_error(reply, 400, code)
        assert body["field"] == field, raw_path
        assert write_counts(api) == before, raw_path
    assert not (api.settings.bundles_dir / "x").exists()


# -- dedup by workflowId (course 4.3) --------------------------------------------------


def test_a_different_payload_for_a_used_workflow_id_is_a_typed_409(api: Api) -> None:
    workflow_id = f"wf-dedup-{uuid.uuid4().hex[:8]}"
    run_id = start_doc(api, {"source": "one", "workflowId": workflow_id, "sleepMs": 5})
    in_flight = api.client.post(
        "/runs", json={"source": "two", "workflowId": workflow_id, "sleepMs": 5}
    )
    wait_terminal(api, run_id)
    before = write_counts(api)

    other = api.client.post(
        "/runs", json={"source": "two", "workflowId": workflow_id, "sleepMs": 5}
    )
    slower = api.client.post(
        "/runs", json={"source": "one", "workflowId": workflow_id, "sleepMs": 6}
    )

    for reply in (in_flight, other, slower):
        body = assert_error(reply, 409, "workflow_id_payload_mismatch")
        assert body["workflow_id"] == workflow_id
    assert write_counts(api) == before
    runs = q("SELECT COUNT(*) FROM app.runs WHERE workflow_id = '{wf}'", wf=workflow_id)
    workflows = q(
        "SELECT COUNT(*) FROM dbos.workflow_status WHERE workflow_uuid = '{wf}'", wf=workflow_id
    )
    assert (api.count(runs), api.count(workflows)) == (1, 1)
    assert download(api, run_id, "raw").content == b"one"


def test_the_same_payload_for_a_workflow_id_returns_the_same_run(api: Api) -> None:
    workflow_id = f"wf-same-{uuid.uuid4().hex[:8]}"
    body = {"source": "one", "workflowId": workflow_id, "sleepMs": 5}
    first = start_doc(api, body)

    again = api.client.post("/runs", json=body)
    wait_terminal(api, first)
    after_done = api.client.post("/runs", json=body)

    assert again.status_code == after_done.status_code == 202, (again.text, after_done.text)
    assert again.json()["run_id"] == after_done.json()["run_id"] == first
    runs = q("SELECT COUNT(*) FROM app.runs WHERE workflow_id = '{wf}'", wf=workflow_id)
    workflows = q(
        "SELECT COUNT(*) FROM dbos.workflow_status WHERE workflow_uuid = '{wf}'", wf=workflow_id
    )
    artifacts = q("SELECT COUNT(*) FROM app.artifacts WHERE run_id = '{run}'", run=first)
    assert (api.count(runs), api.count(workflows), api.count(artifacts)) == (1, 1, 4)


def test_parallel_identical_starts_with_a_workflow_id_leave_one_run(api: Api) -> None:
    workflow_id = f"wf-par-{uuid.uuid4().hex[:8]}"
    body = {"source": "parallel", "workflowId": workflow_id, "sleepMs": 5}
    gate = threading.Barrier(10)

    def start(_: int) -> httpx.Response:
        with httpx.Client(base_url=api.base_url, timeout=30) as client:
            gate.wait()
            return client.post("/runs", json=body)

    with ThreadPoolExecutor(max_workers=10) as pool:
        replies = list(pool.map(start, range(10)))

    assert [r.status_code for r in replies] == [202] * 10, [r.text for r in replies]
    run_ids = {r.json()["run_id"] for r in replies}
    assert len(run_ids) == 1
    run_id = next(iter(run_ids))
    assert wait_terminal(api, run_id)["status"] == "done"
    runs = q("SELECT COUNT(*) FROM app.runs WHERE workflow_id = '{wf}'", wf=workflow_id)
    effects = q("SELECT COUNT(*) FROM app.effects WHERE run_id = '{run}'", run=run_id)
    assert (api.count(runs), api.count(effects)) == (1, 1)


# -- export after tampering (course 4.4) -----------------------------------------------


def test_export_reads_persisted_artifacts_when_step_outputs_were_tampered(api: Api) -> None:
    run_id = run_doc(api, "will-be-removed", sleep_ms=10)
    stored = {
        r["type"]: r["sha256"]
        for r in api.sql(
            q("SELECT type, sha256 FROM app.artifacts WHERE run_id = '{run}'", run=run_id)
        )
    }

    changed = tamper_operation_output(
        api, run_id, "prepare", '{"json":{"prepared":"MISSING_SOURCE"}}'
    )
    reply = api.client.get(f"/runs/{run_id}/export")

    assert changed == 1
    assert reply.status_code == 200, reply.text
    described = reply.json()
    assert [a["id"] for a in described["artifacts"]] == TYPES
    assert {a["id"]: a["sha256"] for a in described["artifacts"]} == stored
    bundle = Path(described["run_bundle_path"])
    assert set(bundle_bytes(bundle)) == BUNDLE_FILES | BODY_FILES
    bundled = json.loads((bundle / "artifacts.json").read_bytes())
    assert all(a["bytes_match"] for a in bundled), bundled


# -- not found and bad queries ---------------------------------------------------------


def test_unknown_runs_and_artifacts_are_not_found(api: Api) -> None:
    run_export = api.client.get("/runs/doc-does-not-exist/export")
    detail = api.client.get("/artifacts/doc-does-not-exist:raw")
    blob = api.client.get("/artifacts/doc-does-not-exist:raw/download")

    assert_error(run_export, 404, "run_not_found")
    assert assert_error(detail, 404, "artifact_not_found")["artifact_id"] == (
        "doc-does-not-exist:raw"
    )
    assert_error(blob, 404, "artifact_not_found")
    assert not (api.settings.bundles_dir / "doc-does-not-exist").exists()


def test_an_unknown_artifact_type_filter_is_a_typed_400(api: Api) -> None:
    reply = api.client.get("/artifacts", params={"type": "bogus"})

    assert assert_error(reply, 400, "invalid_query")["field"] == "type"


def test_a_long_poll_answers_once_the_run_is_done(api: Api) -> None:
    run_id = start_doc(api, {"source": "long poll", "sleepMs": 300})

    view = api.client.get(f"/runs/{run_id}", params={"waitMs": 20_000}).json()

    assert (view["status"], view["dbos_status"]) == ("done", "SUCCESS")
    assert [op["function_name"] for op in view["timeline"]] == list(DOC_STEPS)


def test_a_long_poll_returns_the_current_view_when_its_wait_runs_out(api: Api) -> None:
    run_id = start_doc(api, {"source": "slow run", "sleepMs": 5_000})

    view = api.client.get(f"/runs/{run_id}", params={"waitMs": 50}).json()

    assert view["status"] == "running"


def test_a_wait_outside_its_bounds_is_a_typed_400(api: Api) -> None:
    run_id = start_doc(api, {"source": "bounds", "sleepMs": 0})

    for wait in ("-1", "30001", "soon"):
        reply = api.client.get(f"/runs/{run_id}", params={"waitMs": wait})
        assert_error(reply, 400, "invalid_query")
