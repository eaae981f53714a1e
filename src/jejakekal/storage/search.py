"""Full-text search over chunks, in the database's own index.

SQLite: an FTS5 table over `chunks` (external content, kept by triggers, so the index
commits with the chunk rows). PostgreSQL: a generated `tsvector` column with a GIN
index. Both tokenise without stemming, so one query finds the same chunks on both
(every word must match); only the order of a large store's results may differ.
The caller passes words, never query syntax: operators in user input are not ours to run.
"""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa

from jejakekal.domain.views import SearchHit
from jejakekal.storage.database import Tx

MAX_TERMS = 16
CANDIDATES = 1000
# A word in at least this many chunks is "frequent" on SQLite: it narrows but does not
# rank. FTS5's `bm25()` counts every chunk of each word it ranks, on every query, so
# this caps that count; and finding a word's FREQUENT-th newest chunk is what tells
# (in a bounded walk) whether it is frequent.
FREQUENT = 5000

_SQLITE_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5("
    "text, content='chunks', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS chunks_fts_insert AFTER INSERT ON chunks BEGIN "
    "INSERT INTO chunks_fts(rowid, text) VALUES (new.rowid, new.text); END",
    "CREATE TRIGGER IF NOT EXISTS chunks_fts_delete AFTER DELETE ON chunks BEGIN "
    "INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.rowid, old.text); END",
)
_POSTGRES_DDL = (
    "ALTER TABLE app.chunks ADD COLUMN IF NOT EXISTS tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED",
    "CREATE INDEX IF NOT EXISTS ix_chunks_tsv ON app.chunks USING GIN (tsv)",
)
# SQLite names of the index's own tables (FTS5 adds shadow tables with this prefix).
SQLITE_INDEX_PREFIX = "chunks_fts"

# Relevance is ranked over the newest CANDIDATES matches (FTS5 walks rowids newest
# first and stops there), by `bm25()` over the query's rare words only. The ranking
# cursor walks the rare words' chunks from the oldest candidate on and keeps the
# candidates; `+` stops SQLite from probing FTS5 once per candidate instead.
_SQLITE_RANKED = sa.text("""
WITH candidates AS (
    SELECT f.rowid AS rowid
    FROM chunks_fts AS f
    WHERE chunks_fts MATCH :match
      AND (:run_id IS NULL OR f.rowid IN (SELECT rowid FROM chunks WHERE run_id = :run_id))
    ORDER BY f.rowid DESC
    LIMIT :candidates
), best AS (
    SELECT f.rowid AS rowid, bm25(chunks_fts) AS rank
    FROM chunks_fts AS f
    WHERE chunks_fts MATCH :ranked
      AND f.rowid >= (SELECT min(rowid) FROM candidates)
      AND +f.rowid IN (SELECT rowid FROM candidates)
    ORDER BY rank
    LIMIT :limit
)
SELECT c.run_id, c.chunk_id, -best.rank AS score, c.text, c.start, c."end"
FROM best JOIN chunks AS c ON c.rowid = best.rowid
ORDER BY best.rank, c.run_id, c.ord
""")
# No rare word to rank by: the newest matches first, all scored alike.
_SQLITE_NEWEST = sa.text("""
SELECT c.run_id, c.chunk_id, 0.0 AS score, c.text, c.start, c."end"
FROM chunks AS c
WHERE c.rowid IN (
    SELECT f.rowid FROM chunks_fts AS f
    WHERE chunks_fts MATCH :match
      AND (:run_id IS NULL OR f.rowid IN (SELECT rowid FROM chunks WHERE run_id = :run_id))
    ORDER BY f.rowid DESC
    LIMIT :limit
)
ORDER BY c.rowid DESC
""")
# One row per query word, in order (FTS5 takes a column as its MATCH operand).
_SQLITE_PROBE = sa.text("""
SELECT (SELECT f.rowid FROM chunks_fts AS f WHERE chunks_fts MATCH w.value
        ORDER BY f.rowid DESC LIMIT 1 OFFSET :nth) AS nth
FROM json_each(:phrases) AS w
ORDER BY w.key
""")
_POSTGRES_QUERY = sa.text("""
WITH candidates AS (
    SELECT c.run_id, c.chunk_id, c.text, c.start, c."end", c.ord, c.ctid,
           ts_rank(c.tsv, q.query) AS score
    FROM app.chunks AS c, plainto_tsquery('simple', :match) AS q(query)
    WHERE c.tsv @@ q.query AND (CAST(:run_id AS text) IS NULL OR c.run_id = :run_id)
    LIMIT :candidates
)
SELECT run_id, chunk_id, score, text, start, "end"
FROM candidates
ORDER BY score DESC, run_id, ord
LIMIT :limit
""")


def create_index(tx: Tx) -> None:
    ddl = _POSTGRES_DDL if tx.dialect.name == "postgresql" else _SQLITE_DDL
    for statement in ddl:
        tx.exec_driver_sql(statement)


def terms(query: str) -> list[str]:
    """The words of a query; punctuation and operators are dropped, not interpreted."""
    # A run of underscores is no token to FTS5: as a word it would match nothing.
    return re.findall(r"\w*[^\W_]\w*", query)[:MAX_TERMS]


def search(
    tx: Tx, query: str, *, run_id: str | None, limit: int, frequent: int = FREQUENT
) -> list[SearchHit]:
    """The best `limit` chunks holding every word of `query` (on SQLite, see `_sqlite`)."""
    words = terms(query)
    if not words:
        return []
    if tx.dialect.name == "postgresql":
        params = {"match": " ".join(words), "candidates": CANDIDATES}
        rows = tx.execute(_POSTGRES_QUERY, {**params, "run_id": run_id, "limit": limit})
    else:
        rows = _sqlite(tx, words, run_id=run_id, limit=limit, frequent=frequent)
    return [
        SearchHit(
            run_id=r.run_id,
            chunk_id=r.chunk_id,
            score=round(float(r.score), 6),
            snippet=snippet(r.text, words),
            start=r.start,
            end=r.end,
        )
        for r in rows
    ]


def _sqlite(
    tx: Tx, words: list[str], *, run_id: str | None, limit: int, frequent: int
) -> sa.CursorResult[Any]:
    """Match every word; rank by the rare ones (in fewer than `frequent` chunks).

    `bm25()` counts every chunk of each word it ranks, on every query: time in
    proportion to the store for a common word, whose weight is nearly nothing anyway.
    """
    unique = list({w.casefold(): w for w in words}.values())
    nth = _frequency_probe(tx, unique, frequent)
    rare = [w for w, r in zip(unique, nth, strict=True) if r is None]
    params = {"match": _phrases(unique), "run_id": run_id, "limit": limit}
    if not rare:
        return tx.execute(_SQLITE_NEWEST, params)
    return tx.execute(
        _SQLITE_RANKED, {**params, "ranked": _phrases(rare), "candidates": CANDIDATES}
    )


def _frequency_probe(tx: Tx, words: list[str], frequent: int) -> list[int | None]:
    """The rowid of each word's `frequent`-th newest chunk (None for a word in fewer
    chunks): a walk of at most `frequent` index rows per word."""
    phrases = json.dumps([_phrases([w]) for w in words])
    rows = tx.execute(_SQLITE_PROBE, {"phrases": phrases, "nth": frequent - 1}).all()
    return [r.nth for r in rows]


def _phrases(words: list[str]) -> str:
    # Each word quoted: FTS5 then reads it as a plain token, joined by implicit AND.
    return " ".join(f'"{w}"' for w in words)


def snippet(text: str, words: list[str], width: int = 16) -> str:
    """About `width` words around the first match, each matched word marked «like this»."""
    wanted = {w.casefold() for w in words}
    tokens = re.findall(r"\w+|\W+", text)
    hits = [i for i, t in enumerate(tokens) if t.casefold() in wanted]
    first = hits[0] if hits else 0
    lo, hi = max(0, first - width), min(len(tokens), first + width)
    marked = "".join(f"«{t}»" if t.casefold() in wanted else t for t in tokens[lo:hi])
    return ("…" if lo > 0 else "") + marked.strip() + ("…" if hi < len(tokens) else "")
