"""Full-text search over chunks, in the database's own index.

SQLite: an FTS5 table over `chunks` (external content, kept by triggers, so the index
commits with the chunk rows). PostgreSQL: a generated `tsvector` column with a GIN
index. Both tokenise without stemming, so one query finds the same chunks on both.
The caller passes words, never query syntax: operators in user input are not ours to run.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

MAX_TERMS = 16
# Snippets mark matched words with « and ».

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

_SQLITE_QUERY = """
SELECT c.run_id, c.chunk_id, -bm25(chunks_fts) AS score,
       snippet(chunks_fts, 0, '«', '»', '…', 16) AS snippet,
       c.start, c."end"
FROM chunks_fts JOIN chunks AS c ON c.rowid = chunks_fts.rowid
WHERE chunks_fts MATCH :match AND (:run_id IS NULL OR c.run_id = :run_id)
ORDER BY bm25(chunks_fts), c.run_id, c.ord
LIMIT :limit
"""
_POSTGRES_QUERY = """
SELECT hit.run_id, hit.chunk_id, hit.score,
       ts_headline('simple', hit.text, hit.query,
                   'StartSel=«, StopSel=», MaxWords=16, MinWords=4')
           AS snippet,
       hit.start, hit."end"
FROM (
    SELECT c.run_id, c.chunk_id, c.text, c.start, c."end", c.ord, q.query,
           ts_rank(c.tsv, q.query) AS score
    FROM app.chunks AS c, plainto_tsquery('simple', :match) AS q(query)
    WHERE c.tsv @@ q.query AND (CAST(:run_id AS text) IS NULL OR c.run_id = :run_id)
    ORDER BY score DESC, c.run_id, c.ord
    LIMIT :limit
) AS hit
ORDER BY hit.score DESC, hit.run_id, hit.ord
"""


def create_index(conn: sa.Connection) -> None:
    ddl = _POSTGRES_DDL if conn.dialect.name == "postgresql" else _SQLITE_DDL
    for statement in ddl:
        conn.exec_driver_sql(statement)


def terms(query: str) -> list[str]:
    """The words of a query; punctuation and operators are dropped, not interpreted."""
    return re.findall(r"\w+", query)[:MAX_TERMS]


def search(
    conn: sa.Connection, query: str, *, run_id: str | None, limit: int
) -> list[dict[str, Any]]:
    words = terms(query)
    if not words:
        return []
    if conn.dialect.name == "postgresql":
        sql, match = _POSTGRES_QUERY, " ".join(words)
    else:
        # Each word quoted: FTS5 then reads it as a plain token, joined by implicit AND.
        sql, match = _SQLITE_QUERY, " ".join(f'"{w}"' for w in words)
    rows = conn.execute(sa.text(sql), {"match": match, "run_id": run_id, "limit": limit})
    return [
        {
            "run_id": r.run_id,
            "chunk_id": r.chunk_id,
            "score": round(float(r.score), 6),
            "snippet": r.snippet,
            "start": r.start,
            "end": r.end,
        }
        for r in rows
    ]
