"""Full-text search over one conversation's memories: SQLite FTS5 BM25 or PostgreSQL tsvector.

Text is indexed as words. Chinese and Japanese have no spaces between words, and both FTS5's
unicode61 tokenizer and PostgreSQL's parser would take a whole sentence as one token, so every
CJK character is spaced apart before indexing and a query matches adjacent characters (bigrams)
as phrases. Queries are built from word characters only, so quotes, `*`, `NEAR`, `OR` or SQL in
a message can never become search syntax.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

from anima.memory.models import as_utc

# Han, kana, CJK punctuation-free ranges: characters that are words (or parts of words) on their own.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_CHAR = re.compile(f"([{_CJK}])")
_CJK_RUN = re.compile(f"[{_CJK}]+")
_WORD = re.compile(rf"[^\W_{_CJK}]+(?:'[^\W_{_CJK}]+)?", re.UNICODE)
MAX_INDEXED_CHARS = 4000  # a 100 kB paste is stored whole but only its start is indexed
MAX_QUERY_TERMS = 32

STOPWORDS = frozenset(
    """a an the and or but if of to in on at for with by from as is are was were be been being do does
    did done have has had having i you he she it we they me him her us them my your his its our their
    this that these those what which who whom whose when where why how not no yes so than then there
    here just also very can could would should will shall may might must about into over after before
    up down out off again further once all any both each few more most other some such only own same
    too s t don now im i'm it's that's what's ok okay oh yeah hey hi hello lol tell know think remember
    like get got go going really thing things much many well""".split()
)
# Words that are search syntax in FTS5 must never reach it bare (terms are quoted anyway).
_FTS_OPERATORS = frozenset({"and", "or", "not", "near"})


def search_text(content: str) -> str:
    """The text the index sees: CJK characters spaced apart, long pastes cut."""
    return _CJK_CHAR.sub(r" \1 ", content[:MAX_INDEXED_CHARS])


@dataclass(frozen=True)
class Query:
    """A parsed search: single words, and CJK bigrams that must match as adjacent characters."""

    words: tuple[str, ...]
    phrases: tuple[tuple[str, str], ...]

    def __bool__(self) -> bool:
        return bool(self.words or self.phrases)

    def fts5(self, scope: str) -> str:
        """An FTS5 MATCH expression for one conversation's rows."""
        terms = [f'"{w}"' for w in self.words] + [f'"{a} {b}"' for a, b in self.phrases]
        return f'scope:"{scope}" AND {{body context}}:({" OR ".join(terms)})'

    def tsquery(self) -> str:
        """A to_tsquery() expression (each word is [\\w']-only, so it cannot be syntax)."""
        terms = [w.replace("'", "") for w in self.words] + [f"{a} <-> {b}" for a, b in self.phrases]
        return " | ".join(t for t in terms if t)


def parse_query(message: str) -> Query:
    """Words that are not stopwords (lower-cased, de-duplicated) and CJK bigrams, in order."""
    message = message[:MAX_INDEXED_CHARS]
    words: dict[str, None] = {}
    for match in _WORD.finditer(message):
        word = match.group().lower().strip("'")
        if word and word not in STOPWORDS and word not in _FTS_OPERATORS and len(word) < 40:
            words[word] = None
    phrases: dict[tuple[str, str], None] = {}
    for run in _CJK_RUN.findall(message):
        if len(run) == 1:
            words[run] = None
        for a, b in itertools.pairwise(run):
            phrases[(a, b)] = None
    return Query(tuple(list(words)[:MAX_QUERY_TERMS]), tuple(list(phrases)[:MAX_QUERY_TERMS]))


@dataclass(frozen=True)
class Hit:
    """One matching memory with its full-text score (higher is better, comparable within a query)."""

    entry_id: int
    kind: str
    item_id: int
    role: str
    importance: float
    created_at: datetime
    score: float


_SQLITE_SEARCH = text(
    "SELECT e.id, e.kind, e.item_id, e.role, e.importance, e.created_at, -bm25(search_fts, 1.0, 0.5, 0.0) "
    "FROM search_fts JOIN search_entries e ON e.id = search_fts.rowid "
    "WHERE search_fts MATCH :query ORDER BY bm25(search_fts, 1.0, 0.5, 0.0) LIMIT :limit"
)
# ts_rank has no IDF: weigh the body (A) over the context (B), normalised by length (flag 1).
_POSTGRES_SEARCH = text(
    "SELECT e.id, e.kind, e.item_id, e.role, e.importance, e.created_at, "
    "ts_rank('{0, 0, 0.5, 1.0}', e.document, q, 1) AS score "
    "FROM search_entries e, to_tsquery('english', :query) q "
    "WHERE e.conversation_id = :conversation AND e.document @@ q ORDER BY score DESC LIMIT :limit"
)


def search(conn: Connection, conversation_id: int, query: Query, limit: int) -> list[Hit]:
    """The best `limit` matches in one conversation, best first."""
    if not query:
        return []
    if conn.dialect.name == "sqlite":
        rows = conn.execute(_SQLITE_SEARCH, {"query": query.fts5(scope_of(conversation_id)), "limit": limit})
    else:
        rows = conn.execute(
            _POSTGRES_SEARCH, {"query": query.tsquery(), "conversation": conversation_id, "limit": limit}
        )
    return [Hit(*row[:5], _as_datetime(row[5]), float(row[6])) for row in rows]


def scope_of(conversation_id: int) -> str:
    return f"c{conversation_id}"


def _as_datetime(value: datetime | str) -> datetime:
    """SQLite returns text for a raw SELECT; PostgreSQL a datetime."""
    return as_utc(value if isinstance(value, datetime) else datetime.fromisoformat(value))
