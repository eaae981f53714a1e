"""Search ranking and narrowing, straight on the store (no server): best matches first,
and every word narrows, on a small store and on a large one, where SQLite ranks by the
rare words only.

`frequent` stands in for the store size: the large-store rules start at chunks that
many, so a handful of chunks exercises them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from jejakekal.domain.views import SearchHit
from jejakekal.storage.database import Database
from jejakekal.storage.migrations import migrate
from jejakekal.storage.search import search
from jejakekal.storage.seeding import seed_doc_runs


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    db = Database.open(database_url)
    migrate(db)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    db = Database.open(f"sqlite:///{tmp_path / 'search.sqlite'}")
    migrate(db)
    try:
        yield db
    finally:
        db.dispose()


def store(db: Database, texts: Sequence[str]) -> list[str]:
    """One run per text, oldest first; returns the run ids."""
    return seed_doc_runs(db, prefix="s", runs=len(texts), chunk_texts=lambda n: [texts[n]])


def find(db: Database, query: str, *, run_id: str | None = None, **kw: int) -> list[SearchHit]:
    with db.read() as tx:
        return search(tx, query, run_id=run_id, limit=kw.pop("limit", 10), **kw)


def test_the_chunk_repeating_a_rare_word_ranks_first(db: Database) -> None:
    runs = store(
        db,
        [
            "the heron waits by the water while the light goes",
            "the heron and the heron again beside a heron",
            "the water is cold and the light is low",
            "a cormorant dries its wings",
            "the light goes",
        ],
    )

    hits = find(db, "heron")

    assert [h.run_id for h in hits] == [runs[1], runs[0]]
    assert hits[0].score > hits[1].score
    assert "«heron»" in hits[0].snippet


def test_on_a_small_store_every_word_narrows_even_a_word_in_every_chunk(db: Database) -> None:
    runs = store(db, ["the heron waits", "the heron sleeps", "a heron alone"])

    hits = find(db, "the heron")

    assert sorted(h.run_id for h in hits) == sorted(runs[:2])


def test_the_run_filter_holds_on_a_ranked_search(db: Database) -> None:
    runs = store(db, ["kingfisher on the river", "kingfisher kingfisher at dawn"])

    hits = find(db, "kingfisher", run_id=runs[0])

    assert [h.run_id for h in hits] == [runs[0]]


def test_a_word_with_no_token_in_it_does_not_hide_the_matches(db: Database) -> None:
    runs = store(db, ["an egret stands still"])

    hits = find(db, "egret _ __")

    assert [h.run_id for h in hits] == runs


def test_on_a_large_store_a_word_in_most_chunks_still_narrows(sqlite_db: Database) -> None:
    texts = [f"the filler number {n}" for n in range(6)] + ["a bittern hides", "the bittern"]
    runs = store(sqlite_db, texts)

    hits = find(sqlite_db, "the bittern", frequent=3)

    # `the` is in 7 of 8 chunks: it does not rank, but a match must still hold it.
    assert [h.run_id for h in hits] == [runs[7]]
    assert hits[0].score > 0


def test_frequent_words_still_narrow_and_the_newest_match_comes_first(
    sqlite_db: Database,
) -> None:
    texts = ["plover tern", "plover", "tern", "plover tern tern", "gull", "gull", "gull", "gull"]
    runs = store(sqlite_db, texts)

    hits = find(sqlite_db, "plover tern", frequent=3)

    # Each word is in 3 of 8 chunks: frequent, not most; nothing rare to rank by.
    assert [h.run_id for h in hits] == [runs[3], runs[0]]
    assert {h.score for h in hits} == {0.0}


def test_a_query_of_only_common_words_matches_all_of_them(sqlite_db: Database) -> None:
    texts = ["the cat sat", "the dog sat", "the cat ran", "the cat sat down"]
    runs = store(sqlite_db, texts)

    hits = find(sqlite_db, "the cat sat", frequent=2)

    assert sorted(h.run_id for h in hits) == sorted([runs[0], runs[3]])


def test_rare_words_rank_and_common_ones_only_ride_along(sqlite_db: Database) -> None:
    common = [f"the river bend {n}" for n in range(6)]
    texts = [*common, "the snipe calls", "the snipe snipe snipe calls", "snipe far away"]
    runs = store(sqlite_db, texts)

    hits = find(sqlite_db, "the snipe", frequent=4)

    assert [h.run_id for h in hits] == [runs[7], runs[6]]  # not "snipe far away"
    assert all(h.score > 0 for h in hits)
