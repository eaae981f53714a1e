"""`jejakekal ingest PATH...`: upload files (folders recursively) as document runs.

Each file goes to the running API (`JEJAKEKAL_API_URL`, default this host's API_PORT)
as its raw bytes, streamed from disk, so the blob store, the cap and the format checks
are the server's. `--wait` follows every run to its end; the summary table names each
run, its file, its pages and its status.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from jejakekal.cli.output import fail, print_table
from jejakekal.config import load_settings
from jejakekal.domain.formats import EXTENSIONS, FORMATS, RAW_TYPES

TERMINAL = ("done", "error", "failed", "succeeded", "canceled", "cancelled")
WAIT_SLICE_MS = 10_000


@dataclass
class Ingested:
    path: Path
    run_id: str = "-"
    status: str = "-"
    pages: str = "-"
    error: str = ""


def files_of(paths: list[Path]) -> list[Path]:
    """The files named, and every file of a known extension under the folders named."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)
            )
        elif path.is_file():
            found.append(path)
        else:
            fail(f"no such file or folder: {path}")
    return found


def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Files and folders (searched recursively for .pdf .html .docx .md .txt)."
        ),
    ],
    wait: Annotated[bool, typer.Option("--wait", help="Follow every run to its end.")] = False,
    doc_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help=f"Read every file as this format ({', '.join(FORMATS)}); "
            "default: from its name and its bytes.",
        ),
    ] = None,
    api_url: Annotated[
        str | None, typer.Option("--api-url", help="The API; default JEJAKEKAL_API_URL.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Ingest files as document runs, with a progress bar and a summary table."""
    settings = load_settings()
    if doc_format is not None and doc_format not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}, not {doc_format!r}")
    files = files_of(paths)
    if not files:
        fail("no files to ingest")
    headers = {"Authorization": f"Bearer {settings.api_token}"} if settings.api_token else {}
    base = (api_url or settings.resolved_api_url).rstrip("/")
    results = [Ingested(path) for path in files]
    with (
        httpx.Client(base_url=base, headers=headers, timeout=120.0) as client,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[name]}"),
            transient=as_json,
        ) as progress,
    ):
        task = progress.add_task("uploading", total=len(files), name="")
        for item in results:
            progress.update(task, name=item.path.name)
            _upload(client, item, doc_format)
            progress.advance(task)
        if wait:
            pending = [r for r in results if r.run_id != "-" and r.status not in TERMINAL]
            follow = progress.add_task("running", total=len(pending), name="")
            for item in pending:
                progress.update(follow, name=item.path.name)
                _follow(client, item)
                progress.advance(follow)
    _summarise(results, as_json)
    if any(r.error or r.status in ("error", "failed") for r in results):
        raise typer.Exit(1)


def _upload(client: httpx.Client, item: Ingested, doc_format: str | None) -> None:
    fmt = doc_format or EXTENSIONS.get(item.path.suffix.lower())
    content_type = RAW_TYPES[fmt].split(";")[0] if fmt else "application/octet-stream"
    params = {"filename": item.path.name, **({"format": doc_format} if doc_format else {})}
    try:
        with item.path.open("rb") as body:
            reply = client.post(
                "/runs", content=body, params=params, headers={"Content-Type": content_type}
            )
    except httpx.HTTPError as exc:
        fail(f"cannot reach the API at {client.base_url}: {type(exc).__name__} (is it running?)")
    if reply.status_code != 202:
        item.status = f"refused {reply.status_code}"
        item.error = _message(reply)
        return
    started = reply.json()
    item.run_id, item.status = started["run_id"], started["status"]


def _follow(client: httpx.Client, item: Ingested) -> None:
    path = f"/runs/{quote(item.run_id, safe='')}"
    while True:
        reply = client.get(path, params={"waitMs": WAIT_SLICE_MS})
        if reply.status_code != 200:
            item.error = _message(reply)
            return
        view = reply.json()
        item.status = view["status"]
        if item.status in TERMINAL:
            item.pages = _pages(view)
            item.error = view.get("error") or ""
            return
        time.sleep(0.05)


def _pages(view: dict[str, Any]) -> str:
    """The page count the run's `survey` step found (PDFs); '-' for other formats."""
    for step in view.get("steps", []):
        if step.get("stepId") == "survey":
            pages = (step.get("output") or {}).get("pages")
            return str(pages) if pages else "-"
    return "-"


def _message(reply: httpx.Response) -> str:
    try:
        return str(reply.json().get("message", reply.text))
    except ValueError:
        return reply.text[:200]


def _summarise(results: list[Ingested], as_json: bool) -> None:
    if as_json:
        rows = [
            {
                "runId": r.run_id,
                "file": str(r.path),
                "pages": r.pages,
                "status": r.status,
                "error": r.error or None,
            }
            for r in results
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    print_table(
        ["RUN", "FILE", "PAGES", "STATUS", "ERROR"],
        ([r.run_id, str(r.path), r.pages, r.status, r.error] for r in results),
    )
