"""Many gates answered in one burst lose no answer and apply none twice (issue 23).

`bench gates` in a smaller form, on both backends: 40 runs of a real `jejakekal api`
process wait on a gate, a few are answered one at a time, the rest by 16 threads at
once. Only the correctness parts are asserted, from SQL; the timings are the bench's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jejakekal.bench.gates import measure, problems

RUNS = 40
QUIET = 4


@pytest.mark.timeout(240)
def test_a_burst_of_answers_finishes_every_run_each_answer_applied_once(
    database_url: str, tmp_path: Path
) -> None:
    result = measure(
        database_url,
        tmp_path,
        RUNS,
        clients=16,
        quiet=QUIET,
        settle_queues=False,
        cpu_sample_sec=0.1,
    )

    assert result["statuses"] == {"succeeded": RUNS}
    assert result["answer_replies"] == {"202": RUNS - QUIET}
    assert result["answers_lost"] == 0
    assert result["answers_doubled"] == 0
    assert result["applied_twice"] == 0
    assert result["applied_once"] == RUNS
    assert problems(result) == []
