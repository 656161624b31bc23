"""Recall for one message: full-text matches fused with recency, importance, dates and speakers.

The first score, over every candidate:
score = matched / best match (BM25 on SQLite, IDF-weighted ts_rank on PostgreSQL, 0..1)
        + DENSE × similarity, scaled 0..1 between the nearest and the farthest of the nearest
          (the message embedded without the speakers' names, which stored turns rarely say; when
          it names one speaker, that speaker's nearest turns are candidates too)
        + RECENCY × 0.5^(age / half-life) + IMPORTANCE × importance
        + IN_WINDOW when the message names a time ("last weekend") the memory falls in
        + SPEAKER when the message names who said it.
Its best RERANK are ordered again by a learned score: WEIGHTS · FEATURES (a logistic regression on
pairs of candidates of one question, over what recall knows of each candidate and of its
neighbours, fit by bench/recall_fit.py).
Facts still true and pinned memories are always candidates: they are few, and a companion should
not need the right keyword to remember the user's name. The first k memories of a recall cost at
most k × TOKENS_PER_MEMORY prompt tokens (a long one is cut, its neighbour first; short ones leave
room for it). Its statements are plain reads, not one transaction (on PostgreSQL that saves round
trips): a memory written during a recall is found by the next one. No LLM is involved.
"""

from __future__ import annotations

import itertools
import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, func, literal, select
from sqlalchemy.orm import aliased
from sqlmodel import col

from anima.core.tokens import cl100k
from anima.memory.database import PreparedRead
from anima.memory.models import Fact, Message, SearchEntry, Summary, as_utc, primary
from anima.memory.search import MAX_INDEXED_CHARS, Hit, parse_query, search, tokens
from anima.memory.when import Window, time_window

if TYPE_CHECKING:
    from anima.memory.vectors import VectorIndex

CANDIDATES = 100  # full-text matches weighed (their scores also tell how a turn's neighbours match)
DENSE_CANDIDATES = 100  # nearest by vector
# When the message names one speaker ("what does Mel paint?"), the nearest of that speaker's turns
# among the DENSE_POOL nearest are candidates too, up to SPEAKER_CANDIDATES of them.
DENSE_POOL = 300
SPEAKER_CANDIDATES = 60
RERANK = 80  # the best of the first score, ordered again by the learned one
# The learned score's weights, one per FEATURES: a pairwise logistic regression fit by bench/recall_fit.py
# on LoCoMo's tuning conversations (anima.memory.locomo.TUNED_ON), never on the held-out ones.
WEIGHTS = (
    0.969,
    1.259,
    -1.004,
    2.46,
    -0.768,
    3.969,
    1.574,
    3.651,
    2.195,
    1.718,
    -1.557,
    1.877,
    0.901,
    -1.809,
    -0.601,
    0.606,
    -0.237,
    0.748,
    1.935,
    3.995,
    0.248,
    0.773,
)
INFINITY = float("inf")
RECENCY = 0.1
HALF_LIFE_DAYS = 60.0
IMPORTANCE = 0.15
IN_WINDOW = 0.6
# weight of vector similarity, scaled 0..1 over the nearest: tuned for the static encoder on 4 LoCoMo
# conversations (26, 30, 41, 42; 0.1 to 0.35 within 0.003 of each other, 1.0 clearly worse)
DENSE = 0.3
SPEAKER = 0.15
PINNED = 2.0  # the importance of a memory pinned with /memory pin: a candidate in every recall
WINDOW_TURNS = 24  # how many turns a named time window contributes, newest first
LINE_CHARS = 600  # a recalled message longer than this is cut in the prompt
NEIGHBOUR_CHARS = 300  # … and the turn shown with it, at this length
# The first k recalled memories take at most k × this many tokens (cl100k_base) as prompt lines:
# ten fit the 1,000 tokens a recall may add to a prompt.
TOKENS_PER_MEMORY = 100
SHORTEST_NEIGHBOUR = 8  # tokens: a neighbour cut shorter than this is left out


@dataclass(frozen=True)
class Memory:
    """One recalled memory: what, when, and whose words (for turns)."""

    kind: str  # "turn" | "summary" | "fact"
    item_id: int
    text: str
    when: datetime
    role: str = ""
    score: float = 0.0
    # the turn said just before or after (an exchange: a question with its answer), shown with it
    neighbour: Memory | None = None
    entry_id: int = 0  # the number /memory why shows, and /memory forget and pin take

    @property
    def message_ids(self) -> tuple[int, ...]:
        """The messages this memory shows (a fact's own id is not a message)."""
        if self.kind != "turn":
            return ()
        if self.neighbour is None:
            return (self.item_id,)
        return tuple(sorted((self.item_id, self.neighbour.item_id)))

    def line(self, user_name: str, character_name: str) -> str:
        """A prompt line with its date: `[2026-05-08] Lin: I adopted a cat.`"""
        return "".join(self.line_parts(user_name, character_name))

    def line_parts(self, user_name: str, character_name: str) -> tuple[str, ...]:
        """`line(...)` in the pieces it is joined from, each after the first opening with its space."""
        date = f"[{self.when:%Y-%m-%d}]"
        text = " " + " ".join(self.text[:LINE_CHARS].split())  # one line each, a long paste cut short
        if self.kind == "summary":
            return (date, " (summary)", text)
        if self.kind != "turn":
            return (date, f" {user_name}", text)
        said = (f" {user_name if self.role == 'user' else character_name}:", text)
        other = self.neighbour
        if other is None:
            return (date, *said)
        them = user_name if other.role == "user" else character_name
        theirs = (f" {them}:", " " + " ".join(other.text[:NEIGHBOUR_CHARS].split()))
        return (date, *theirs, " /", *said) if other.item_id < self.item_id else (date, *said, " /", *theirs)


@dataclass(frozen=True)
class RecallRequest:
    conversation_id: int
    text: str
    now: datetime
    limit: int = 8
    exclude_messages: Collection[int] = ()  # turns already in the prompt's recent history
    speakers: dict[str, str] | None = None  # lower-cased name → role ("user"/"assistant")
    after_message: int = 0  # turns and summaries up to this message id are not recalled (/reset)
    vector: Any = None  # the message's sentence vector, when vector recall is on
    # the person's conversations on linked accounts (anima/memory/links.py): their facts and
    # summaries are candidates too, their turns are not (those stay in the chat they were said in)
    shared: tuple[int, ...] = ()


@dataclass(frozen=True)
class Candidate:
    """A memory recall weighs: its hit, the first score (the formula above) and, for the best
    RERANK of that score, the features its learned score weighs (FEATURES)."""

    hit: Hit
    first: float
    features: tuple[float, ...] = ()

    @property
    def learned(self) -> float:
        return sum(w * f for w, f in zip(WEIGHTS, self.features, strict=True))


def recall(conn: Connection, request: RecallRequest, vectors: VectorIndex | None = None) -> list[Memory]:
    """The `limit` memories of one conversation that best fit `request.text`, best first."""
    found, rows = _considered(conn, request, vectors)
    learned = sorted(((c.learned, c.hit) for c in found[:RERANK]), key=lambda pair: pair[0], reverse=True)
    ranked = learned + [(c.first, c.hit) for c in found[RERANK:]]
    return _chosen(conn, request, ranked, rows)


def candidates(
    conn: Connection, request: RecallRequest, vectors: VectorIndex | None = None
) -> list[Candidate]:
    """What recall weighs for `request`, by first score (bench/recall_fit.py fits WEIGHTS on it)."""
    return _considered(conn, request, vectors)[0]


# A memory's row as _TEXTS reads it: id, text, when, the last message it covers, the turn's role.
_Row = tuple[int, str, datetime, int, str]


def _considered(
    conn: Connection, request: RecallRequest, vectors: VectorIndex | None
) -> tuple[list[Candidate], dict[tuple[str, int], _Row]]:
    """The candidates, and the rows of those re-ranked (read for their features, shown if chosen)."""
    names = {word for name in (request.speakers or {}) for word in name.split()}
    query = parse_query(request.text, names)
    if not query:  # a question only of names ("Mel?"): search for them after all
        query = parse_query(request.text)
    matched = search(conn, request.conversation_id, query, CANDIDATES)
    hits = {hit.entry_id: hit for hit in reversed(matched)}  # reversed: the best score wins
    window = time_window(request.text[:MAX_INDEXED_CHARS], request.now)
    if window is not None:
        hits |= {
            hit.entry_id: hit
            for hit in _in_window(conn, request.conversation_id, window)
            if hit.entry_id not in hits
        }
    hits |= {
        hit.entry_id: hit for hit in _current_facts(conn, request.conversation_id) if hit.entry_id not in hits
    }
    for elsewhere in request.shared:
        found = [*search(conn, elsewhere, query, CANDIDATES), *_current_facts(conn, elsewhere)]
        hits |= {hit.entry_id: hit for hit in found if hit.kind != "turn" and hit.entry_id not in hits}
    named_roles = _named_roles(request.text, request.speakers or {})
    nearest: list[tuple[int, float]] = []
    spoken_rank: dict[int, int] = {}  # the named speaker's turns by nearness
    looked_up: dict[int, Hit] = {}
    if vectors is not None and request.vector is not None:
        one_named = len(named_roles) == 1
        pool = vectors.nearest(
            conn, request.conversation_id, request.vector, DENSE_POOL if one_named else DENSE_CANDIDATES
        )
        nearest = pool[:DENSE_CANDIDATES]
        unknown = [entry for entry, _ in (pool if one_named else nearest) if entry not in hits]
        looked_up = {hit.entry_id: hit for hit in _entries(conn, unknown)}
        if one_named:
            spoken = [e for e, _ in pool if (looked_up.get(e) or hits[e]).role in named_roles]
            spoken_rank = {entry: n for n, entry in enumerate(spoken[:SPEAKER_CANDIDATES])}
            keep = {entry for entry, _ in nearest} | spoken_rank.keys()
            nearest = [(entry, similarity) for entry, similarity in pool if entry in keep]
    similar = dict(nearest)
    hits |= {entry: hit for entry, hit in looked_up.items() if entry in similar}

    best = max((h.score for h in hits.values()), default=0.0) or 1.0
    closest = max(similar.values(), default=0.0)
    floor = min(similar.values(), default=0.0)  # the farthest of the nearest: similarity scaled 0..1
    spread = (closest - floor) or 1.0
    scored: list[tuple[float, Hit]] = []
    for hit in hits.values():
        if hit.kind == "turn" and (
            hit.item_id in request.exclude_messages or hit.item_id <= request.after_message
        ):
            continue
        age_days = max((request.now - hit.created_at).total_seconds(), 0.0) / 86400
        score = hit.score / best + DENSE * max(similar.get(hit.entry_id, floor) - floor, 0.0) / spread
        score += RECENCY * 0.5 ** (age_days / HALF_LIFE_DAYS) + IMPORTANCE * hit.importance
        if window is not None and hit.created_at in window:
            score += IN_WINDOW
        if hit.role and hit.role in named_roles:
            score += SPEAKER
        scored.append((score, hit))
    scored.sort(key=lambda pair: pair[0], reverse=True)
    by_time = sorted((hit for hit in matched if hit.kind == "turn"), key=lambda hit: hit.created_at)
    near_turns = sorted(
        (hits[entry] for entry in similar if entry in hits and hits[entry].kind == "turn"),
        key=lambda hit: hit.created_at,
    )
    scaled = {entry: max(value - floor, 0.0) / spread for entry, value in similar.items()}
    signals = _Signals(
        best=best,
        floor=floor,
        spread=spread,
        similar=similar,
        text_rank={hit.entry_id: n for n, hit in enumerate(matched)},
        vector_rank={entry: n for n, (entry, _) in enumerate(nearest)},
        spoken_rank=spoken_rank,
        window=window,
        named_roles=named_roles,
        terms=frozenset(t for word in query.words for t in tokens(word)),
        matched_turns={hit.item_id: hit for hit in matched if hit.kind == "turn"},
        turn_times=[hit.created_at for hit in by_time],
        turn_scores=[hit.score for hit in by_time],
        similar_turns={hit.item_id: scaled[hit.entry_id] for hit in near_turns},
        near_times=[hit.created_at for hit in near_turns],
        near_similarities=[scaled[hit.entry_id] for hit in near_turns],
        asks_when=bool(_ASKS_WHEN.search(request.text[:MAX_INDEXED_CHARS])),
    )
    rows = _rows(conn, {(hit.kind, hit.item_id) for _, hit in scored[:RERANK]})
    openers = _opening(
        conn, request.conversation_id, [hit for _, hit in scored[:RERANK] if hit.kind == "turn"]
    )
    contents = [_content(rows, hit) for _, hit in scored[:RERANK]]
    matches = _word_matches(request, vectors, contents)
    reranked = [
        Candidate(hit, first, _features(hit, signals, content, request.now, hit.item_id in openers, match))
        for (first, hit), content, match in zip(scored[:RERANK], contents, matches, strict=True)
    ]
    return reranked + [Candidate(hit, first) for first, hit in scored[RERANK:]], rows


def _word_matches(
    request: RecallRequest, vectors: VectorIndex | None, contents: list[str]
) -> list[tuple[float, float] | None]:
    """How near each of `contents` comes to the message's words by static word vectors (WordMatcher),
    with vector recall on only (its table is the static encoder's); else None each."""
    if vectors is None or request.vector is None:
        return [None] * len(contents)
    from anima.memory.static import shared_word_matcher

    matcher = shared_word_matcher()
    asked = matcher.words(without_names(request.text[:MAX_INDEXED_CHARS], request.speakers or {}))
    return list(matcher.matches(asked, contents))


def _content(rows: dict[tuple[str, int], _Row], hit: Hit) -> str:
    row = rows.get((hit.kind, hit.item_id))
    return "" if row is None else row[1]


@dataclass(frozen=True)
class _Signals:
    """What one recall knows about its query, shared by every candidate's features."""

    best: float
    floor: float
    spread: float
    similar: dict[int, float]
    text_rank: dict[int, int]
    vector_rank: dict[int, int]
    spoken_rank: dict[int, int]
    window: Window | None
    named_roles: set[str]
    terms: frozenset[str]
    matched_turns: dict[int, Hit]
    turn_times: list[datetime]  # of the matched turns, in order …
    turn_scores: list[float]  # … and their text scores
    similar_turns: dict[int, float]  # the nearest turns by message id: their similarity scaled 0..1
    near_times: list[datetime]  # of the nearest turns, in order …
    near_similarities: list[float]  # … and their similarities scaled 0..1
    asks_when: bool  # the message asks when (or how long ago) something was


FEATURES = (
    "text score",  # BM25 over the best match, 0..1
    "text rank",  # 1 / (1 + rank / 10) in the full-text list, 0 when not in it
    "similarity",  # vector similarity scaled 0..1 over the nearest
    "vector rank",  # 1 / (1 + rank / 10) among the nearest, 0 when not among them
    "recency",  # 0.5^(age / half-life)
    "in window",  # said in the time the message names
    "speaker",  # said by whom the message names
    "fact",  # a fact or summary, not a turn
    "neighbour text score",  # the best text score of the turns just before and after
    "session text score",  # the best text score of the turns said within an hour of it
    "coverage",  # the share of the query's words it says itself (not its neighbours)
    "coverage²",
    "length",  # log(1 + characters / 100)
    "text score × similarity",
    "coverage × speaker",
    "speaker's vector rank",  # 1 / (1 + rank / 10) among the named speaker's nearest, else 0
    "neighbour similarity",  # the best similarity of the turns just before and after
    "session similarity",  # the best similarity of the turns said within an hour of it
    "dated × asks when",  # it says when ("yesterday", "last week", "in May") and the message asks
    "word match",  # the mean over the message's words of the nearest of its own (static word vectors;
    # coverage without vectors)
    "word match, other words",  # … with the message's words it says itself counted 0
    "opens a session",  # a turn said over an hour after the one before it (news come first: "Hey! I won…")
)
# A question about when, and the words that date what a turn tells (as indexed: stemmed).
_ASKS_WHEN = re.compile(r"\b(?:when|how long|what (?:date|day|month|year|time))\b", re.IGNORECASE)
_DATED = frozenset(
    tokens(
        "yesterday today tonight tomorrow ago recently last next week weekend month year monday tuesday "
        "wednesday thursday friday saturday sunday january february march april june july august "
        "september october november december"  # not "may", a verb more often than a month
    )
)
SESSION = timedelta(hours=1)


def _features(
    hit: Hit, signals: _Signals, content: str, now: datetime, opens: bool, match: tuple[float, float] | None
) -> tuple[float, ...]:
    own = hit.score / signals.best
    rank = signals.text_rank.get(hit.entry_id)
    near = signals.vector_rank.get(hit.entry_id)
    spoken_near = signals.spoken_rank.get(hit.entry_id)
    similarity = max(signals.similar.get(hit.entry_id, signals.floor) - signals.floor, 0.0) / signals.spread
    age_days = max((now - hit.created_at).total_seconds(), 0.0) / 86400
    turn = hit.kind == "turn"
    beside = [signals.matched_turns.get(hit.item_id + step) for step in (-1, 1)] if turn else []
    times = signals.turn_times
    nearby = signals.turn_scores[
        bisect_left(times, hit.created_at - SESSION) : bisect_right(times, hit.created_at + SESSION)
    ]
    near_times = signals.near_times
    near_session = signals.near_similarities[
        bisect_left(near_times, hit.created_at - SESSION) : bisect_right(near_times, hit.created_at + SESSION)
    ]
    words = _words(content) if signals.terms or signals.asks_when else frozenset()
    coverage = len(signals.terms & words) / len(signals.terms) if signals.terms else 0.0
    spoken = float(bool(hit.role) and hit.role in signals.named_roles)
    # without vectors only the words it says itself count (word match's floor): the weights are fit
    # with vectors on, and put there what coverage alone would otherwise carry
    if match is None:
        match = (coverage, 0.0)
    return (
        own,
        0.0 if rank is None else 1 / (1 + rank / 10),
        similarity,
        0.0 if near is None else 1 / (1 + near / 10),
        0.5 ** (age_days / HALF_LIFE_DAYS),
        float(signals.window is not None and hit.created_at in signals.window),
        spoken,
        float(not turn),
        max((other.score / signals.best for other in beside if other is not None), default=0.0),
        max(nearby, default=0.0) / signals.best,
        coverage,
        coverage**2,
        math.log1p(len(content) / 100),
        own * similarity,
        coverage * spoken,
        0.0 if spoken_near is None else 1 / (1 + spoken_near / 10),
        max((signals.similar_turns.get(hit.item_id + step, 0.0) for step in (-1, 1) if turn), default=0.0),
        max(near_session, default=0.0),
        float(signals.asks_when and not _DATED.isdisjoint(words)),
        *match,
        float(opens),
    )


@lru_cache(maxsize=8192)
def _words(content: str) -> frozenset[str]:
    """The indexed words of a memory (cached: the same memories come back recall after recall)."""
    return frozenset(tokens(content[:MAX_INDEXED_CHARS]))


def _rows(conn: Connection, wanted: set[tuple[str, int]]) -> dict[tuple[str, int], _Row]:
    """The rows of the `wanted` (kind, id) memories (one query per kind)."""
    found: dict[tuple[str, int], _Row] = {}
    for kind, statement in _TEXTS.items():
        ids = [item for of, item in wanted if of == kind]
        if ids:
            for item_id, body, at, last, role in statement.rows(conn, {"ids": ids}):
                found[(kind, item_id)] = (item_id, body, at, last, role)
    return found


def _chosen(
    conn: Connection,
    request: RecallRequest,
    ranked: list[tuple[float, Hit]],
    known: dict[tuple[str, int], _Row],
) -> list[Memory]:
    """The best `request.limit` of `ranked`, each turn with the neighbour that fits best."""
    # a neighbour is picked by its place in `ranked` (learned and first scores are not comparable)
    turn_score = {hit.item_id: -float(n) for n, (_, hit) in enumerate(ranked) if hit.kind == "turn"}
    turns = [hit.item_id for _, hit in ranked[: 2 * request.limit] if hit.kind == "turn"]
    around = _neighbours(conn, request.conversation_id, turns)
    chosen: list[tuple[float, Hit, int | None]] = []
    covered: set[int] = set()
    for score, hit in ranked:
        if len(chosen) == request.limit:
            break
        if hit.kind != "turn":
            chosen.append((score, hit, None))
            continue
        if hit.item_id in covered:
            continue  # shown already, as the neighbour of a better memory
        options = [
            m
            for m in around.get(hit.item_id, ())
            if m not in covered and m > request.after_message and m not in request.exclude_messages
        ]
        neighbour = max(options, key=lambda m: (turn_score.get(m, -INFINITY), m < hit.item_id), default=None)
        covered |= {hit.item_id, *([neighbour] if neighbour is not None else [])}
        chosen.append((score, hit, neighbour))
    shown = _with_text(conn, chosen, request.after_message, known)
    return _within_allowance(shown, request.speakers or {})


def _neighbours(conn: Connection, conversation_id: int, message_ids: list[int]) -> dict[int, list[int]]:
    """The messages just before and after each of `message_ids` in the conversation (one query,
    two index lookups a message: a burst of many people interleaves their ids)."""
    if not message_ids:
        return {}
    rows = _NEXT_TO.rows(conn, {"conversation": conversation_id, "ids": message_ids})
    return {message: [n for n in (before, after) if n is not None] for message, before, after in rows}


def _opening(conn: Connection, conversation_id: int, turns: list[Hit]) -> set[int]:
    """The message ids of `turns` said more than SESSION after the message before them, or first."""
    if not turns:
        return set()
    rows = _SAID_BEFORE.rows(conn, {"conversation": conversation_id, "ids": [hit.item_id for hit in turns]})
    before = {message: at for message, at in rows}
    return {
        hit.item_id
        for hit in turns
        if (at := before.get(hit.item_id)) is None or hit.created_at - as_utc(at) > SESSION
    }


_BESIDE = aliased(Message)
_NEXT_TO = PreparedRead(
    select(
        primary(_BESIDE.id),
        select(func.max(primary(Message.id)))
        .where(
            col(Message.conversation_id) == bindparam("conversation"),
            primary(Message.id) < primary(_BESIDE.id),
        )
        .scalar_subquery(),
        select(func.min(primary(Message.id)))
        .where(
            col(Message.conversation_id) == bindparam("conversation"),
            primary(Message.id) > primary(_BESIDE.id),
        )
        .scalar_subquery(),
    ).where(primary(_BESIDE.id).in_(bindparam("ids", expanding=True)))
)


_SAID_BEFORE = PreparedRead(
    select(
        primary(_BESIDE.id),
        select(col(Message.created_at))
        .where(
            col(Message.conversation_id) == bindparam("conversation"),
            primary(Message.id) < primary(_BESIDE.id),
        )
        .order_by(primary(Message.id).desc())
        .limit(1)
        .scalar_subquery(),
    ).where(primary(_BESIDE.id).in_(bindparam("ids", expanding=True)))
)


# What a search hit is read from (anima.memory.search.Hit, but its score).
HIT_COLUMNS = (
    primary(SearchEntry.id),
    col(SearchEntry.kind),
    col(SearchEntry.item_id),
    col(SearchEntry.role),
    col(SearchEntry.importance),
    col(SearchEntry.created_at),
)


def _entries(conn: Connection, entry_ids: list[int]) -> list[Hit]:
    if not entry_ids:
        return []
    rows = _ENTRIES.rows(conn, {"ids": entry_ids})
    return [Hit(row[0], row[1], row[2], row[3], row[4], as_utc(row[5]), 0.0) for row in rows]


_ENTRIES = PreparedRead(
    select(*HIT_COLUMNS).where(primary(SearchEntry.id).in_(bindparam("ids", expanding=True)))
)


def _in_window(conn: Connection, conversation_id: int, window: Window) -> list[Hit]:
    rows = conn.execute(
        select(*HIT_COLUMNS)
        .where(
            col(SearchEntry.conversation_id) == conversation_id,
            col(SearchEntry.created_at) >= window.start,
            col(SearchEntry.created_at) < window.end,
        )
        .order_by(col(SearchEntry.created_at).desc())
        .limit(WINDOW_TURNS)
    )
    return [Hit(*row[:5], as_utc(row[5]), 0.0) for row in rows]


# Built once: constructing a select() costs ~0.1 ms a call, a third of a whole recall.
_CURRENT_FACTS = PreparedRead(
    select(
        primary(SearchEntry.id),
        col(SearchEntry.item_id),
        col(SearchEntry.importance),
        col(SearchEntry.created_at),
        col(SearchEntry.kind),
        col(SearchEntry.role),
    ).where(
        col(SearchEntry.conversation_id) == bindparam("conversation"),
        (col(SearchEntry.kind) == "fact") | (col(SearchEntry.importance) >= PINNED),
    )
)
# A memory's text, when it was, the last message it covers (a /reset hides it) and, for turns, the role.
_TEXTS = {
    kind: PreparedRead(
        select(id_column, content, moment, covers, role).where(
            id_column.in_(bindparam("ids", expanding=True))
        )
    )
    for kind, id_column, content, moment, covers, role in (
        (
            "turn",
            primary(Message.id),
            col(Message.content),
            col(Message.created_at),
            primary(Message.id),
            col(Message.role),
        ),
        (
            "summary",
            primary(Summary.id),
            col(Summary.content),
            col(Summary.ended_at),
            col(Summary.last_message_id),
            literal(""),
        ),
        ("fact", primary(Fact.id), col(Fact.content), col(Fact.created_at), primary(Fact.id), literal("")),
    )
}


def _current_facts(conn: Connection, conversation_id: int) -> list[Hit]:
    rows = _CURRENT_FACTS.rows(conn, {"conversation": conversation_id})
    return [
        Hit(entry, kind, item, role, importance, as_utc(at), 0.0)
        for entry, item, importance, at, kind, role in rows
    ]


def without_names(text: str, speakers: dict[str, str]) -> str:
    """`text` with the speakers' names (and their 's) taken out: "What did Mel paint?" → "What did paint?"."""
    words = {word for name in speakers for word in name.split() if word}
    if not words:
        return text
    pattern = (
        r"\b(?:" + "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True)) + r")(?:'s)?\b"
    )
    return " ".join(re.sub(pattern, " ", text, flags=re.IGNORECASE).split()) or text


def _named_roles(text: str, speakers: dict[str, str]) -> set[str]:
    lowered = text.lower()
    return {role for name, role in speakers.items() if name and name in lowered}


def _with_text(
    conn: Connection,
    ranked: list[tuple[float, Hit, int | None]],
    after_message: int,
    known: dict[tuple[str, int], _Row],
) -> list[Memory]:
    """The chosen memories and their neighbours with their texts (those not `known` read, one
    query per kind)."""
    wanted = {(hit.kind, hit.item_id) for _, hit, _ in ranked}
    wanted |= {("turn", neighbour) for _, _, neighbour in ranked if neighbour is not None}
    rows = {key: known[key] for key in wanted if key in known} | _rows(conn, wanted - known.keys())
    roles = {item_id: row[4] for (kind, item_id), row in rows.items() if kind == "turn"}
    texts = {
        key: (body, as_utc(at))
        for key, (_, body, at, last, _) in rows.items()
        if key[0] == "fact" or last > after_message  # a fact outlives a /reset; talk does not
    }
    memories = []
    for score, hit, neighbour in ranked:
        found = texts.get((hit.kind, hit.item_id))
        if found is None:
            continue
        beside = texts.get(("turn", neighbour)) if neighbour is not None else None
        other = None
        if neighbour is not None and beside is not None:
            other = Memory("turn", neighbour, beside[0], beside[1], roles.get(neighbour, ""))
        memories.append(
            Memory(hit.kind, hit.item_id, found[0], found[1], hit.role, score, other, hit.entry_id)
        )
    return memories


CUT = "…"


def line_tokens(memory: Memory, user_name: str, character_name: str) -> int:
    """The tokens `memory.line(...)` takes in a prompt, with the newline after it.

    Counted piece by piece (each piece's count cached: a memory's text is counted once, not once
    per recall and per cut): cl100k_base splits text into words before encoding them, and it always
    splits before a space that follows a non-space and precedes one, so where every piece opens so
    the sum is the whole line's count exactly. Otherwise (an empty text) the line is counted whole."""
    parts = memory.line_parts(user_name, character_name)
    if all(_opens_a_word(before, part) for before, part in itertools.pairwise(parts)):
        return sum(_tokens(part) for part in parts) + 1
    return _tokens("".join(parts)) + 1


def _opens_a_word(before: str, part: str) -> bool:
    return len(part) > 1 and part[0] == " " and not part[1].isspace() and not before[-1:].isspace()


@lru_cache(maxsize=8192)
def _tokens(text: str) -> int:
    return len(cl100k().encode(text, disallowed_special=()))


def _cut(pieces: list[int], tokens: int) -> str:
    """The text of `pieces` (its tokens) cut to about `tokens` tokens, marked with "…"."""
    return cl100k().decode(pieces[: max(tokens - 1, 0)], errors="ignore").rstrip() + CUT


def _pieces(text: str) -> list[int]:
    return cl100k().encode(text, disallowed_special=())


def _within_allowance(memories: list[Memory], speakers: dict[str, str]) -> list[Memory]:
    """Each memory may take TOKENS_PER_MEMORY tokens and what the ones before it left unused; a
    longer one gives up its neighbour's words first, then its own (each cut marked "…"). Counted
    with the speakers' names as they are shown (the pipeline passes them), else placeholders."""
    names = {role: name.title() for name, role in speakers.items()}
    user, character = names.get("user", "User"), names.get("assistant", "Character")
    fitted: list[Memory] = []
    allowance = 0
    for memory in memories:
        allowance += TOKENS_PER_MEMORY
        cost = line_tokens(memory, user, character)
        other = memory.neighbour
        if cost > allowance and other is not None:
            pieces = _pieces(other.text[:NEIGHBOUR_CHARS])
            keep = len(pieces) - (cost - allowance)
            while keep >= SHORTEST_NEIGHBOUR and cost > allowance:  # a cut can cost a token more
                memory = replace(memory, neighbour=replace(other, text=_cut(pieces, keep)))
                cost, keep = line_tokens(memory, user, character), keep - 1
            if cost > allowance:
                memory = replace(memory, neighbour=None)
                cost = line_tokens(memory, user, character)
        if cost > allowance:
            pieces = _pieces(memory.text[:LINE_CHARS])
            keep = len(pieces) - (cost - allowance)
            while cost > allowance:
                memory = replace(memory, text=_cut(pieces, keep))
                cost, keep = line_tokens(memory, user, character), keep - 1
        allowance -= cost
        fitted.append(memory)
    return fitted
