"""Full-text search over one conversation's memories: SQLite FTS5 BM25 or PostgreSQL tsvector.

Scope at scale: on SQLite every indexed term carries its conversation ("k12x" + "cat"), so a term's
list of documents holds only that conversation's rows. A shared index with a scope column instead
reads the whole database's list for every common word: 90 ms per recall at a million messages,
against ~1 ms this way. Words are lower-cased, stripped of accents and stemmed (Snowball English) in
Python, since FTS5's own porter tokenizer would see the prefix. PostgreSQL filters by conversation
with a B-tree first, so its tsvector holds plain text.

Chinese and Japanese have no spaces between words: every CJK character is its own token, and a
query matches adjacent characters (bigrams) as phrases. Queries are built from word characters
only, so quotes, `*`, `NEAR`, `OR` or SQL in a message can never become search syntax.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import snowballstemmer
from sqlalchemy import Connection, text

from anima.memory.database import PreparedRead
from anima.memory.models import as_utc

# Han, kana, CJK punctuation-free ranges: characters that are words (or parts of words) on their own.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_CHAR = re.compile(f"([{_CJK}])")
_CJK_RUN = re.compile(f"[{_CJK}]+")
_WORD = re.compile(rf"[^\W_{_CJK}]+(?:'[^\W_{_CJK}]+)?", re.UNICODE)
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+", re.UNICODE)
_STEMMER = snowballstemmer.stemmer("english")
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
    """Plain indexed text (PostgreSQL): CJK characters spaced apart, long pastes cut."""
    return _CJK_CHAR.sub(r" \1 ", content[:MAX_INDEXED_CHARS])


def index_text(content: str, dialect: str, conversation_id: int) -> str:
    """What the full-text index of `dialect` sees for `content` in one conversation."""
    if dialect != "sqlite":
        return search_text(content)
    prefix = scope_of(conversation_id)
    return " ".join(prefix + token for token in tokens(content[:MAX_INDEXED_CHARS]))


def tokens(text: str) -> list[str]:
    """Lower-cased, accent-free, stemmed words; each CJK character is a token of its own."""
    return [_stem(match.group()) for match in _TOKEN.finditer(_fold(text))]


def _fold(text: str) -> str:
    if text.isascii():  # nothing to decompose: a third of the cost of indexing a message
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _STEMMER.stemWord(word) if word.isascii() and word.isalpha() else word


@dataclass(frozen=True)
class Query:
    """A parsed search: single words, and CJK bigrams that must match as adjacent characters."""

    words: tuple[str, ...]
    phrases: tuple[tuple[str, str], ...]

    def __bool__(self) -> bool:
        return bool(self.words or self.phrases)

    def fts5(self, conversation_id: int) -> str:
        """An FTS5 MATCH expression over one conversation's terms."""
        prefix = scope_of(conversation_id)
        terms = {f'"{prefix}{token}"': None for word in self.words for token in tokens(word)}
        terms |= {f'"{prefix}{a} {prefix}{b}"': None for a, b in self.phrases}
        return f"{{body context}}:({' OR '.join(terms)})"

    def tsquery_terms(self) -> list[str]:
        """to_tsquery() expressions, one per term (each word is [\\w']-only, so it cannot be syntax)."""
        terms = [w.replace("'", "") for w in self.words] + [f"{a} <-> {b}" for a, b in self.phrases]
        return [t for t in terms if t]


def parse_query(message: str, ignore: Collection[str] = ()) -> Query:
    """Words that are not stopwords (lower-cased, de-duplicated) and CJK bigrams, in order.

    `ignore`: words left out, such as the speakers' names: "what did Mel say" should favour Mel's
    turns (recall's speaker boost), not every turn that says "Mel"."""
    message = message[:MAX_INDEXED_CHARS]
    words: dict[str, None] = {}
    for match in _WORD.finditer(message):
        word = match.group().lower().strip("'")
        if word.endswith("'s"):
            word = word[:-2]
        if (
            word
            and word not in STOPWORDS
            and word not in _FTS_OPERATORS
            and word not in ignore
            and len(word) < 40
        ):
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


_SQLITE_SEARCH = PreparedRead(
    text(
        "SELECT e.id, e.kind, e.item_id, e.role, e.importance, e.created_at, -bm25(search_fts, 1.0, 0.5) "
        "FROM search_fts JOIN search_entries e ON e.id = search_fts.rowid "
        "WHERE search_fts MATCH :query ORDER BY bm25(search_fts, 1.0, 0.5) LIMIT :limit"
    )
)


# ts_rank has no IDF: weigh the body (A) over the context (B), normalised by length (flag 1).
def _postgres_search(conn: Connection, conversation_id: int, query: Query, limit: int) -> Any:
    """ts_rank knows no IDF, so each term's rank is weighted by its IDF within the conversation
    (counted in the same statement, in one pass over the conversation's rows): BM25's idea in SQL.
    A term no row has adds nothing (and matches nothing); a weight is rounded to `real`, as it was
    when it came as a parameter of a second statement."""
    terms = query.tsquery_terms()
    params: dict[str, Any] = {f"t{i}": term for i, term in enumerate(terms)}
    params |= {"conversation": conversation_id, "limit": limit}
    sources = ", ".join(f"to_tsquery('english', :t{i}) q{i}" for i in range(len(terms)))
    counts = ", ".join(f"count(*) FILTER (WHERE document @@ q{i}) AS f{i}" for i in range(len(terms)))
    score = " + ".join(
        f"CASE WHEN s.f{i} > 0 THEN ln(1 + (s.total - s.f{i} + 0.5::float8) / (s.f{i} + 0.5::float8))::real "
        f"* ts_rank('{{0, 0, 0.5, 1.0}}', e.document, q{i}, 1) ELSE 0 END"
        for i in range(len(terms))
    )
    matches = " OR ".join(f"e.document @@ q{i}" for i in range(len(terms)))
    return conn.execute(
        text(
            f"WITH s AS (SELECT count(*) AS total, {counts} FROM search_entries, {sources} "
            "WHERE conversation_id = :conversation) "
            f"SELECT e.id, e.kind, e.item_id, e.role, e.importance, e.created_at, {score} AS score "
            f"FROM search_entries e, s, {sources} WHERE e.conversation_id = :conversation AND ({matches}) "
            "ORDER BY score DESC LIMIT :limit"
        ),
        params,
    )


def search(conn: Connection, conversation_id: int, query: Query, limit: int) -> list[Hit]:
    """The best `limit` matches in one conversation, best first."""
    if not query:
        return []
    if conn.dialect.name == "sqlite":
        rows = _SQLITE_SEARCH.rows(conn, {"query": query.fts5(conversation_id), "limit": limit})
    else:
        rows = _postgres_search(conn, conversation_id, query, limit)
    return [Hit(row[0], row[1], row[2], row[3], row[4], _as_datetime(row[5]), float(row[6])) for row in rows]


def scope_of(conversation_id: int) -> str:
    """The prefix of a conversation's terms: letters around the number keep it one token."""
    return f"k{conversation_id}x"


def _as_datetime(value: datetime | str) -> datetime:
    """SQLite returns text for a raw SELECT; PostgreSQL a datetime."""
    return as_utc(value if isinstance(value, datetime) else datetime.fromisoformat(value))
