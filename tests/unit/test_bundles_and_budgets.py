"""Bundle writing, budget checks and the SQL console's qualifier rewrite: pure parts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jejakekal.bench.budgets import COURSE_CAPS, check, load_budgets
from jejakekal.domain.errors import InvalidRunId
from jejakekal.export.bundle import json_file
from jejakekal.export.writer import bundle_dir, write_bundle
from jejakekal.storage.console import unqualify

REPO = Path(__file__).parent.parent.parent


def test_bundle_json_file_sorts_keys_indents_two_and_ends_with_one_newline() -> None:
    data = json_file({"b": 1, "a": {"d": "é", "c": [1, 2]}})

    expected = (
        '{\n  "a": {\n    "c": [\n      1,\n      2\n    ],\n    "d": "é"\n  },\n  "b": 1\n}\n'
    )
    assert data == expected.encode()


@pytest.mark.parametrize("hostile", ["..", "../x", "a/../../b", "/etc", "x/y", ""])
def test_bundle_dir_refuses_ids_that_leave_the_root(tmp_path: Path, hostile: str) -> None:
    with pytest.raises(InvalidRunId):
        bundle_dir(tmp_path, hostile)


def test_write_bundle_replaces_a_bundle_whole_and_leaves_no_staging(tmp_path: Path) -> None:
    write_bundle(tmp_path, "run-1", {"a.json": b"1\n", "b.json": b"2\n"})

    target = write_bundle(tmp_path, "run-1", {"a.json": b"3\n"})

    assert sorted(p.name for p in target.iterdir()) == ["a.json"]
    assert (target / "a.json").read_bytes() == b"3\n"
    assert [p.name for p in tmp_path.iterdir()] == ["run-1"]


def test_write_bundle_leaves_an_identical_bundle_untouched(tmp_path: Path) -> None:
    target = write_bundle(tmp_path, "run-1", {"a.json": b"1\n"})
    before = (target / "a.json").stat().st_mtime_ns

    write_bundle(tmp_path, "run-1", {"a.json": b"1\n"})

    assert (target / "a.json").stat().st_mtime_ns == before


def test_repo_budgets_are_no_looser_than_the_course_caps() -> None:
    budgets = load_budgets(REPO / "budgets.json")

    assert set(budgets) == set(COURSE_CAPS)
    assert all(budgets[k] <= COURSE_CAPS[k] for k in budgets)


def _results(folder: Path, bench: str, **figures: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"results": [{"db": "postgresql", "p50_ms": 999}, {"db": "sqlite", **figures}]}
    (folder / f"{bench}.json").write_text(json.dumps(payload))


def test_check_passes_within_budget_and_fails_over_it_on_sqlite_figures(tmp_path: Path) -> None:
    _results(tmp_path, "ingest", p50_ms=15, p95_ms=60)
    budgets = {"ingest_p50_ms": 20.0, "ingest_p95_ms": 50.0}

    states = {v.key: v.state for v in check(budgets, tmp_path)}

    assert states == {"ingest_p50_ms": "ok", "ingest_p95_ms": "over"}


def test_check_fails_a_missing_result_and_a_loosened_budget(tmp_path: Path) -> None:
    verdicts = check({"query_p50_ms": 5.0, "ingest_p50_ms": 60.0}, tmp_path)

    assert {v.key: v.state for v in verdicts} == {
        "query_p50_ms": "missing",
        "ingest_p50_ms": "looser than the course cap",
    }
    assert all(v.failed for v in verdicts)


def test_check_judges_the_long_poll_bench_by_healthz_p99_and_extra_cpu(tmp_path: Path) -> None:
    _results(tmp_path, "longpoll", healthz_p99_ms=12.5, extra_cpu_cores=0.3)
    budgets = {"longpoll_healthz_p99_ms": 50.0, "longpoll_extra_cpu_cores": 0.1}

    states = {v.key: v.state for v in check(budgets, tmp_path)}

    assert states == {"longpoll_healthz_p99_ms": "ok", "longpoll_extra_cpu_cores": "over"}


def test_check_judges_searches_alone_by_the_query_bench_search_figures(tmp_path: Path) -> None:
    search = {"p50_ms": 3.1, "p95_ms": 25.0, "mean_ms": 4.0}
    result = {"db": "sqlite", "p50_ms": 2.0, "p95_ms": 9.0, "search": search}
    (tmp_path / "query.json").write_text(json.dumps({"results": [result]}))
    budgets = {"query_p50_ms": 5.0, "search_p50_ms": 5.0, "search_p95_ms": 20.0}

    states = {v.key: v.state for v in check(budgets, tmp_path)}

    assert states == {"query_p50_ms": "ok", "search_p50_ms": "ok", "search_p95_ms": "over"}


def test_unqualify_drops_schema_prefixes_but_not_inside_string_literals() -> None:
    sql = (
        "UPDATE dbos.operation_outputs SET output='app.x' "
        "WHERE workflow_uuid IN (SELECT id FROM app.runs)"
    )

    assert unqualify(sql) == (
        "UPDATE operation_outputs SET output='app.x' WHERE workflow_uuid IN (SELECT id FROM runs)"
    )


def test_a_bundle_write_that_fails_leaves_no_staging_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[Path] = []
    real = Path.write_bytes

    def full_disk(self: Path, data: bytes) -> int:
        if written:
            raise OSError(28, "No space left on device")
        written.append(self)
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_disk)

    with pytest.raises(OSError, match="No space left"):
        write_bundle(tmp_path, "run-1", {"a.json": b"{}\n", "b.json": b"[]\n"})

    assert written and list(tmp_path.iterdir()) == []
