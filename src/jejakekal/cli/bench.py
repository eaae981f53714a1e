"""Rendering of benchmark results; the measuring lives in `jejakekal.bench`."""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from jejakekal.cli.databases import given_database
from jejakekal.cli.output import fail
from jejakekal.config import load_settings

R = TypeVar("R")

if TYPE_CHECKING:
    from jejakekal.bench.results import (
        HttpLatencyResult,
        IngestFloor,
        IngestResult,
        Latency,
        LongpollResult,
        QueryResult,
        ThroughputMeasurement,
        ThroughputResult,
        UiResult,
    )

    # A bench over HTTP: (database URL, home, runs, progress) to its result.
    HttpMeasure = Callable[[str, Path, int, Callable[[], object] | None], HttpLatencyResult]

RESULTS = Path(".cache/bench")


def write_result(name: str, results: Sequence[Mapping[str, object]]) -> Path:
    """`{"results": [...]}`, in `.cache/bench/<name>.json`, where `bench check` reads it.

    Results of backends not measured this time are kept: a bench run on PostgreSQL does
    not erase SQLite's figures, and `bench check` judges both.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    measured = {r.get("db") for r in results}
    kept = [r for r in _previous_results(path) if r.get("db") not in measured]
    payload = {"results": [*kept, *results]}
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return path


def _previous_results(path: Path) -> list[dict[str, object]]:
    try:
        results = json.loads(path.read_text()).get("results", [])
    except (OSError, ValueError, AttributeError):
        return []  # none yet, or unreadable: the new results replace it
    return [r for r in results if isinstance(r, dict)]


def throughput(
    runs: int, urls: list[str], concurrency: int, workers: list[int], repeat: int
) -> None:
    from jejakekal.bench.throughput import combine, measure_backend

    console = Console()
    base = load_settings()
    results: list[ThroughputResult] = []
    with scratch_space() as scratch:
        for url in scratch.urls(urls):
            for count in workers or [0]:
                where = f"{count} worker process(es)" if count else "one process"
                measurements: list[ThroughputMeasurement] = []
                for n in range(1, repeat + 1):
                    console.print(
                        f"measuring {runs} runs on {url.split('@')[-1]}, {where} ({n}/{repeat}) ..."
                    )
                    settings = base.with_overrides(database_url=url, home=scratch.home())
                    # A fresh process per measurement: DBOS is a process-wide singleton, and
                    # threads of a destroyed instance would share the CPU with the next one.
                    with multiprocessing.get_context("spawn").Pool(1) as pool:
                        args = (settings, runs, concurrency, count)
                        measurements.append(pool.apply(measure_backend, args))
                results.append(combine(measurements))
    console.print(_throughput_table(results))
    for r in results:
        procs = f"{r['worker_processes']} worker(s)" if r["worker_processes"] else "in-process"
        each = ", ".join(f"x{m['latency_p50_ratio']}" for m in r["measurements"])
        console.print(f"{r['db']} {procs}: p50 ratio of each repeat: {each}")
        each = ", ".join(f"x{m['throughput_ratio']}" for m in r["measurements"])
        console.print(f"{r['db']} {procs}: runs/s ratio of each repeat: {each}")
    written = write_result("throughput", results)
    console.print(f"written {written}")


def _throughput_table(results: list[ThroughputResult]) -> Table:
    """Each figure and ratio is the median over the repeats."""
    table = Table("db", "workers", "path", "p50 ms", "p95 ms", "runs/s")
    for r in results:
        procs = str(r["worker_processes"] or "in-process")
        for path, m in (("ours", r["ours"]), ("bare_dbos", r["bare_dbos"])):
            figures = (m["latency_p50_ms"], m["latency_p95_ms"], m["runs_per_sec"])
            table.add_row(r["db"], procs, path, *(str(f) for f in figures))
        table.add_row(
            r["db"], procs, "ratio", f"x{r['latency_p50_ratio']}", "", f"x{r['throughput_ratio']}"
        )
    return table


class Scratch:
    """One folder for everything a bench command creates: the scratch SQLite file (when
    no `--db` is given) and a home per server or process. Benches never touch the
    operator's home, and leave nothing behind."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._homes = 0

    def sqlite_url(self) -> str:
        return f"sqlite:///{self.folder / 'bench.sqlite'}"

    def urls(self, given: list[str]) -> list[str]:
        """The given databases (checked before any measuring), or the scratch SQLite file."""
        return [given_database(url) for url in given] or [self.sqlite_url()]

    def home(self) -> Path:
        self._homes += 1
        home = self.folder / f"home-{self._homes}"
        home.mkdir()
        return home


@contextlib.contextmanager
def scratch_space() -> Iterator[Scratch]:
    with tempfile.TemporaryDirectory(prefix="jejakekal-bench-", ignore_cleanup_errors=True) as f:
        yield Scratch(Path(f))


def http_latency(name: str, runs: int, urls: list[str]) -> None:
    """Run the `ingest`, `resume` or `ui` bench against a real server process per database."""
    from jejakekal.bench import resume

    console = Console()
    results: Sequence[HttpLatencyResult]
    if name == "ingest":
        results = _ingest(console, runs, urls)
    elif name == "ui":
        measure_ui = _ui_measure()
        uis = [r for _, _, r in _each_database(console, name, runs, urls, measure_ui)]
        rows: list[tuple[str, str, Latency]] = []
        for r in uis:  # returning visits (warm cache) beside the first visits
            rows += [(name, r["db"], r), (f"{name} (warm cache)", r["db"], r["warm_cache"])]
        _latency_table(console, rows)
        results = uis
    else:
        resumed = [r for _, _, r in _each_database(console, name, runs, urls, resume.measure)]
        _latency_table(console, [(name, r["db"], r) for r in resumed])
        results = resumed
    console.print(f"written {write_result(name, results)}")


def _ingest(console: Console, runs: int, urls: list[str]) -> list[IngestResult]:
    """`bench ingest` over HTTP, then its floor in process, database by database."""
    from jejakekal.bench import ingest
    from jejakekal.storage.engine import db_kind

    results: list[IngestResult] = []
    for url, home, result in _each_database(console, "ingest", runs, urls, ingest.measure):
        console.print(f"ingest floor on {db_kind(url)}: in process, beside bare DBOS ...")
        result["floor"] = _ingest_floor(url, home, runs)
        results.append(result)
    _latency_table(console, [("ingest", r["db"], r) for r in results])
    _floor_table(console, results)
    _pages_table(console, results)
    return results


def _pages_table(console: Console, results: list[IngestResult]) -> None:
    table = Table("db", "uploaded PDF", "pages", "pages/s", "ms/page", "run p50 ms")
    for r in results:
        for label, key in (("text layer", "pdf"), ("scanned, OCR", "ocr")):
            pages = r.get(key)
            if isinstance(pages, dict):
                table.add_row(
                    r["db"],
                    label,
                    str(pages["pages"]),
                    f"{pages['pages_per_sec']:.2f}",
                    f"{pages['ms_per_page']:.1f}",
                    f"{pages['p50_run_ms']:.1f}",
                )
    console.print(table)


def _each_database(
    console: Console,
    name: str,
    runs: int,
    urls: list[str],
    measure: Callable[[str, Path, int, Callable[[], object] | None], R],
) -> Iterator[tuple[str, Path, R]]:
    """(URL, home, result) of `measure` on each database, with a progress bar; the scratch
    space lives until the last is taken."""
    from jejakekal.storage.engine import db_kind

    with scratch_space() as scratch:
        for url in scratch.urls(urls):
            home = scratch.home()
            with Progress(console=console) as progress:
                task = progress.add_task(f"{name} on {db_kind(url)}", total=runs)
                result = measure(url, home, runs, functools.partial(progress.advance, task))
            yield url, home, result


def _ingest_floor(url: str, home: Path, runs: int) -> IngestFloor:
    """`bench ingest`'s floor, measured in a fresh process (DBOS is a process-wide singleton)."""
    from jejakekal.bench.ingest import measure_floor

    settings = load_settings().with_overrides(database_url=url, home=home)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        floor: IngestFloor = pool.apply(measure_floor, (settings, runs))
    return floor


def _floor_table(console: Console, results: list[IngestResult]) -> None:
    table = Table("db", "document run", "p50 ms", "p95 ms")
    for r in results:
        floor = r["floor"]
        table.add_row(r["db"], "over HTTP (the bench)", str(r["p50_ms"]), str(r["p95_ms"]))
        for label, f in (
            ("in process", floor["in_process"]),
            ("bare DBOS, in process", floor["bare_dbos"]),
        ):
            table.add_row(r["db"], label, str(f["p50_ms"]), str(f["p95_ms"]))
        table.add_row(r["db"], "in process / bare DBOS", f"x{floor['p50_ratio']}", "")
    console.print(table)


def _ui_measure() -> Callable[[str, Path, int, Callable[[], object] | None], UiResult]:
    """The UI bench drives a browser: Playwright comes with the dev extras."""
    try:
        from jejakekal.bench import ui
    except ImportError:
        fail("bench ui needs Playwright: pip install -e '.[dev]' (it drives /usr/bin/chromium)")
    return ui.measure


def query(samples: int, seed_runs: int, seed_chunks: int, urls: list[str]) -> None:
    from jejakekal.bench.query import measure, seed
    from jejakekal.storage.engine import db_kind

    console = Console()
    base = load_settings()
    results: list[QueryResult] = []
    with scratch_space() as scratch:
        for url in scratch.urls(urls):
            home = scratch.home()
            settings = base.with_overrides(database_url=url, home=home)
            with Progress(console=console) as progress:
                task = progress.add_task(f"seeding {db_kind(url)}", total=seed_runs)
                seed(settings, seed_runs, seed_chunks, functools.partial(progress.advance, task))
                task = progress.add_task(f"querying {db_kind(url)}", total=samples)
                seeded = (seed_runs, seed_chunks)
                results.append(
                    measure(
                        settings, home, samples, seeded, functools.partial(progress.advance, task)
                    )
                )
    _latency_table(console, [("query", r["db"], r) for r in results])
    table = Table("db", "kind", "p50 ms", "p95 ms")
    for r in results:
        for kind, f in (("search", r["search"]), ("run_view", r["run_view"])):
            table.add_row(r["db"], kind, str(f["p50_ms"]), str(f["p95_ms"]))
    console.print(table)
    console.print(f"written {write_result('query', results)}")


def _latency_table(console: Console, rows: list[tuple[str, str, Latency]]) -> None:
    """One row per (bench, db, figures)."""
    table = Table("bench", "db", "p50 ms", "p95 ms", "mean ms")
    for bench, db, f in rows:
        table.add_row(bench, db, str(f["p50_ms"]), str(f["p95_ms"]), str(f["mean_ms"]))
    console.print(table)


def check(budgets_path: Path, backends: Sequence[str], as_json: bool) -> None:
    """Judge each backend's latest results against its budgets; one table, or one JSON line."""
    from jejakekal.bench.budgets import check as run_check
    from jejakekal.bench.budgets import command_for, load_backend_budgets

    if not budgets_path.exists():
        fail(f"no budgets file at {budgets_path}")
    try:
        budgets = load_backend_budgets(budgets_path)
    except (ValueError, TypeError, AttributeError) as exc:
        fail(f"unreadable budgets file {budgets_path}: {exc}")
    verdicts = [v for db in backends for v in run_check(budgets[db], RESULTS, db)]
    failed = [f"{v.key} on {v.db} ({v.state})" for v in verdicts if v.failed]
    missing = sorted({command_for(v.bench, v.db) for v in verdicts if v.state == "missing"})
    if as_json:
        rows = [
            {"key": v.key, "db": v.db, "budget": v.budget, "measured": v.measured, "state": v.state}
            for v in verdicts
        ]
        payload = {"ok": not failed, "verdicts": rows, "failed": failed, "to_run": missing}
        typer.echo(json.dumps(payload))
    else:
        table = Table("budget", "db", "limit", "measured", "verdict")
        for v in verdicts:
            measured = "" if v.measured is None else str(v.measured)
            table.add_row(v.key, v.db, str(v.budget), measured, v.state)
        Console().print(table)
    if failed:
        # Missing results name the bench to run, once per bench and backend.
        problems = [
            f"{v.key} on {v.db} ({v.state})" for v in verdicts if v.failed and v.state != "missing"
        ]
        problems += [f"no result yet, run: {'; '.join(missing)}"] if missing else []
        fail(f"bench check failed: {'; '.join(problems)}")
    if not as_json:
        Console().print(f"bench check passed on {', '.join(backends)}")


def longpoll(waiters: int, seconds: float, urls: list[str], shim: bool) -> None:
    """`bench longpoll`: /healthz and the API's CPU with and without held long polls."""
    from jejakekal.bench.longpoll import measure
    from jejakekal.storage.engine import db_kind

    console = Console()
    results: list[LongpollResult] = []
    with scratch_space() as scratch:
        for url in scratch.urls(urls):
            console.print(
                f"longpoll on {db_kind(url)}{' (api --shim, a worker)' if shim else ''}: "
                f"{seconds:g}s idle, then {seconds:g}s with {waiters} waiters ..."
            )
            results.append(measure(url, scratch.home(), waiters, seconds, shim=shim))
    table = Table("db", "waiters", "healthz p50 ms", "healthz p99 ms", "API CPU (cores)")
    for r in results:
        for count, p in ((0, r["idle"]), (r["waiters"], r["waiting"])):
            figures = (p["healthz_p50_ms"], p["healthz_p99_ms"], p["cpu_cores"])
            table.add_row(r["db"], str(count), *(str(f) for f in figures))
        table.add_row(r["db"], "extra", "", "", str(r["extra_cpu_cores"]))
    console.print(table)
    console.print(f"written {write_result('longpoll', results)}")
