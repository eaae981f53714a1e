"""`bench query`: GET /search and GET /runs/{id} on a store of 10,000 runs and
100,000 chunks, over HTTP (README, "Current figures").

Each kind is timed on its own (`search`, `run_view`) besides both together; the
search figures are what `search_p50_ms`/`search_p95_ms` hold. The large store of
docs/benchmarks.md is `--seed-chunks 1000000 --seed-runs 100000` (seeding takes
about two minutes on two cores).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

from jejakekal.bench.client import BenchClient
from jejakekal.bench.ingest import ingest_once
from jejakekal.bench.results import QueryResult
from jejakekal.bench.server import api_process, settle
from jejakekal.bench.stats import summary
from jejakekal.bootstrap import build_kernel
from jejakekal.config import Settings
from jejakekal.storage.engine import db_kind
from jejakekal.storage.seeding import seed_doc_runs

SEED = 20261124
VOCABULARY = 4000
WORDS_PER_CHUNK = 40
REAL_RUNS = 20


def _vocabulary(rng: random.Random) -> list[str]:
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qu", "de"]
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(words)


class Corpus:
    """Deterministic text with a Zipf-like word frequency, as natural text has."""

    def __init__(self) -> None:
        rng = random.Random(SEED)
        self.words = _vocabulary(rng)
        self.weights = [1 / (rank + 1) for rank in range(len(self.words))]

    def chunk_texts(self, run: int, chunks: int) -> list[str]:
        rng = random.Random(SEED + run)
        return [
            " ".join(rng.choices(self.words, self.weights, k=WORDS_PER_CHUNK))
            for _ in range(chunks)
        ]

    def query(self, rng: random.Random) -> str:
        return " ".join(rng.choices(self.words, self.weights, k=rng.randint(2, 3)))


def seed(
    settings: Settings, runs: int, chunks: int, progress: Callable[[int], object] | None = None
) -> None:
    """Build the store: migrations, then bulk rows (no server running yet)."""
    corpus = Corpus()
    per_run = max(1, chunks // runs)
    kernel = build_kernel(settings, "shim")  # migrations; no workflow runs here
    try:
        seed_doc_runs(
            kernel.db,
            prefix="seeded",
            runs=runs,
            chunk_texts=lambda n: corpus.chunk_texts(n, per_run),
            progress=progress,
        )
    finally:
        kernel.close()


def measure(
    settings: Settings,
    home: Path,
    samples: int,
    seeded: tuple[int, int],
    progress: Callable[[], object] | None = None,
) -> QueryResult:
    """`samples` searches and run views on a store seeded with (runs, chunks)."""
    seeded_runs, seeded_chunks = seeded
    corpus = Corpus()
    rng = random.Random(SEED)
    url = settings.resolved_database_url
    with api_process(url, home) as base, BenchClient(base) as client:
        pace = settle(base)
        # Real runs (with timelines and artifacts) beside seeded ones, half and half.
        real = [ingest_once(client, n)[0] for n in range(REAL_RUNS)]
        picked = [f"seeded-{rng.randrange(seeded_runs):06d}" for _ in real]
        targets = [t for pair in zip(real, picked, strict=True) for t in pair]
        search, views = [], []
        for n in range(samples):
            started = time.perf_counter()
            reply = client.get("/search", params={"q": corpus.query(rng), "limit": 10})
            search.append(time.perf_counter() - started)
            reply.raise_for_status()
            started = time.perf_counter()
            reply = client.get(f"/runs/{targets[n % len(targets)]}")
            views.append(time.perf_counter() - started)
            reply.raise_for_status()
            if progress:
                progress()
    return {
        "db": db_kind(url),
        "seeded_runs": seeded_runs,
        "seeded_chunks": seeded_chunks,
        "samples": samples,
        "queues": pace,
        "search": summary(search),
        "run_view": summary(views),
        **summary(search + views),
    }
