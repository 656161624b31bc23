"""Recall latency at scale: synthetic conversations filled into a store, recall timed for questions.

Used by `anima bench memory` (`run_bench`) and bench/memory_scale_bench.py. Words are drawn with
Zipf-like frequencies; 100,000 messages over 1,000 users by default, 1,000,000 over 10,000 users
with `full`. The store is built in bulk, in one transaction (many rows a statement, SQLite's
full-text index made at the end), with the rows the store's own writes make (`built_rows`), and
kept: in a file under the temporary directory for SQLite, in the database itself for a URL. A later
run with the same size, schema and indexing (`Size.key`) reuses it instead of building it again.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import itertools
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, select, text
from sqlmodel import col

from anima.core.messages import ConversationKey
from anima.errors import EmbeddingUnavailable, MemoryStoreError
from anima.memory import search
from anima.memory.migrate import head_in_scripts
from anima.memory.models import Conversation, MemoryVector, Message, Preference, SearchEntry, User, table_of
from anima.memory.search import index_text
from anima.memory.store import TURN_IMPORTANCE, MemoryStore
from anima.ops.figures import Figure

COMMAND = "anima bench memory"
CACHE_DIR = Path(tempfile.gettempdir()) / "anima-scale"
CHUNK_MESSAGES = 20_000  # messages a build writes in one go (a few statements)
START = datetime(2026, 1, 1, tzinfo=UTC)
_MARK = {"platform": "bench", "chat_id": "scale", "user_id": "", "key": "built"}  # a finished build's row
_FORMAT = "2"  # bump when what a build writes changes
WARM_UP = 10  # recalls before timing: the first loads tiktoken and the sentence encoder


@functools.cache
def _vocabulary(seed: int, size: int = 5000) -> tuple[list[str], Any]:
    """Made-up words, and the random state after making them (the same each time for a seed)."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(size * 2)}
    return sorted(words)[:size], rng.getstate()


class Talk:
    """Synthetic chat lines: words drawn with Zipf-like frequencies, 6 to 24 words a line."""

    def __init__(self, seed: int = 7) -> None:
        self.words, state = _vocabulary(seed)
        self.rng = random.Random()
        self.rng.setstate(state)
        # cumulative once: choices() with plain weights adds them up again on every call
        self.cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(self.words))))

    def line(self) -> str:
        words = self.rng.choices(self.words, cum_weights=self.cumulative, k=self.rng.randint(6, 24))
        return " ".join(words) + "."


@dataclass(frozen=True)
class Size:
    messages: int
    users: int

    @property
    def per_user(self) -> int:
        return self.messages // self.users

    def key(self) -> str:
        """What a kept store must match: its size, the schema and how text is indexed."""
        what = [inspect.getsource(f) for f in (index_text, search.search_text, search.tokens, search._fold)]
        what += [inspect.getsource(search._stem), search._TOKEN.pattern, str(search.MAX_INDEXED_CHARS)]
        indexing = hashlib.sha256("".join(what).encode()).hexdigest()[:10]
        return f"{self.per_user * self.users}-{self.users}-{head_in_scripts()}-{indexing}-{_FORMAT}"


def built_rows(
    dialect: str, conversation_id: int, contents: list[str], user: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The message rows of one conversation's turns, and their search entries without `item_id`,
    as MemoryStore.add writes them one at a time (a turn's context: the turns before and after)."""
    bodies = [index_text(content, dialect, conversation_id) for content in contents]
    messages, entries = [], []
    for i, content in enumerate(contents):
        role = "user" if i % 2 == 0 else "assistant"
        at = START + timedelta(minutes=i * 37 + user)
        messages.append(
            {
                "conversation_id": conversation_id,
                "role": role,
                "content": content,
                "platform_message_id": None,
                "cut": False,
                "created_at": at,
            }
        )
        context = bodies[i - 1] if i else ""
        if i + 1 < len(contents):
            context += " " + bodies[i + 1]
        entries.append(
            {
                "conversation_id": conversation_id,
                "kind": "turn",
                "role": role,
                "body": bodies[i],
                "context": context,
                "importance": TURN_IMPORTANCE[role],
                "created_at": at,
            }
        )
    return messages, entries


def fill_conversation(conn: Connection, conversation_id: int, contents: list[str], user: int = 0) -> None:
    """Write `contents` into one conversation as alternating user and assistant turns, with their
    search entries (as MemoryStore.add makes them), a statement for all rows of each table."""
    messages, entries = built_rows(conn.dialect.name, conversation_id, contents, user)
    for entry, message_id in zip(entries, _numbered(conn, table_of(Message), messages), strict=True):
        entry["item_id"] = message_id
    _numbered(conn, table_of(SearchEntry), entries)


def _numbered(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert `rows` with the ids that follow the table's last (one statement for all: asking the
    database for each new id makes SQLite insert one row a statement) and return those ids."""
    last = conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar() or 0
    ids = list(range(last + 1, last + 1 + len(rows)))
    conn.execute(insert(table), [{**row, "id": i} for row, i in zip(rows, ids, strict=True)])
    return ids


def _fill(
    conn: Connection, first_user: int, users: int, size: Size, talk: Talk, noise: Any, dimensions: int
) -> None:
    """Write users first_user … first_user + users - 1 with their conversations (and random vectors)."""
    import numpy as np

    made = datetime.now(UTC)
    numbers = range(first_user, first_user + users)
    people = _numbered(
        conn,
        table_of(User),
        [
            {"platform": "bench", "platform_user_id": f"u{n}", "display_name": f"U{n}", "created_at": made}
            for n in numbers
        ],
    )
    chats = _numbered(
        conn,
        table_of(Conversation),
        [
            {
                "character_id": "aiko",
                "user_id": person,
                "platform": "bench",
                "chat_id": f"c{n}",
                "bot_id": "",
                "private": False,
                "history_starts_after": 0,
                "created_at": made,
            }
            for n, person in zip(numbers, people, strict=True)
        ],
    )
    messages: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for n, chat in zip(numbers, chats, strict=True):
        said, indexed = built_rows(conn.dialect.name, chat, [talk.line() for _ in range(size.per_user)], n)
        messages += said
        entries += indexed
    for entry, message_id in zip(entries, _numbered(conn, table_of(Message), messages), strict=True):
        entry["item_id"] = message_id
    entry_ids = _numbered(conn, table_of(SearchEntry), entries)
    if dimensions:
        vectors = noise.standard_normal((len(entry_ids), dimensions)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        conn.execute(
            table_of(MemoryVector).insert(),
            [
                {
                    "entry_id": entry,
                    "conversation_id": row["conversation_id"],
                    "vector": vector.astype("<f2").tobytes(),
                }
                for entry, row, vector in zip(entry_ids, entries, vectors, strict=True)
            ],
        )


def _kept(conn: Connection) -> tuple[str | None, int]:
    """The key of the finished build in this database (None: none), and how many messages it holds."""
    mark = conn.execute(select(col(Preference.value)).filter_by(**_MARK)).scalar()
    count = conn.execute(select(func.count()).select_from(table_of(Message))).scalar() or 0
    return (json.loads(mark) if mark else None), count


def _triggered_index(conn: Connection) -> str | None:
    """SQLite: drop the trigger that indexes each new entry in FTS5 and return its SQL (None elsewhere):
    indexing all entries at the end costs a third less than row by row."""
    if conn.dialect.name != "sqlite":
        return None
    trigger = conn.execute(
        text("SELECT sql FROM sqlite_master WHERE name = 'search_entries_insert'")
    ).scalar()
    conn.execute(text("DROP TRIGGER search_entries_insert"))
    return str(trigger)


def _built(conn: Connection, trigger: str | None) -> None:
    if trigger is not None:
        conn.execute(text("INSERT INTO search_fts(search_fts) VALUES ('rebuild')"))
        conn.execute(text(trigger))
    if conn.dialect.name == "postgresql":  # the id sequences move past the ids the build gave
        for name in ("users", "conversations", "messages", "search_entries"):
            conn.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
            )


async def build(
    store: MemoryStore, database_url: str, size: Size, vectors: bool, progress: Callable[[str], None]
) -> tuple[float, bool]:
    """Fill `store` with `size` in one transaction, unless it holds that build already;
    (seconds taken, whether reused)."""
    key = size.key() + ("-vectors" if vectors else "")
    kept, count = await store.read(_kept)
    if kept == key:
        return 0.0, True
    if count:
        raise MemoryStoreError(
            f"this database holds {count:,} messages but not a scale build of {size.messages:,}: "
            "give an empty one"
        )
    talk, noise = Talk(), __import__("numpy").random.default_rng(5)
    dimensions = store.vectors.dimensions if vectors and store.vectors is not None else 0
    per_chunk = max(1, CHUNK_MESSAGES // max(size.per_user, 1))
    total = size.per_user * size.users
    started = time.perf_counter()

    def work(conn: Connection) -> None:
        trigger = _triggered_index(conn)
        last = started
        for first in range(0, size.users, per_chunk):
            _fill(conn, first, min(per_chunk, size.users - first), size, talk, noise, dimensions)
            done, now = min(first + per_chunk, size.users) * size.per_user, time.perf_counter()
            if now - last > 10:
                left = (total - done) / (done / (now - started))
                progress(f"built {done:,} of {total:,} messages in {now - started:.0f} s, ~{left:.0f} s left")
                last = now
        progress(f"indexing {total:,} messages")
        _built(conn, trigger)
        mark = {**_MARK, "value": json.dumps(key), "updated_at": datetime.now(UTC)}
        conn.execute(table_of(Preference).insert(), [mark])

    await store.run(work)
    if store.database.dialect == "postgresql":
        progress("vacuuming")
        await _settled(database_url)
    return time.perf_counter() - started, False


async def _settled(url: str) -> None:
    """PostgreSQL: VACUUM ANALYZE after the bulk load, as autovacuum would in time. Without it, each
    page's first read sets its hint bits and writes it back, and the planner guesses row counts:
    recall p95 at a million messages was 590 ms for that alone."""
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def scale(
    messages: int,
    users: int,
    database_url: str | None = None,
    queries: int = 400,
    vectors: bool = False,
    progress: Callable[[str], None] = _stderr,
    files: Callable[[], list[Path]] | None = None,
) -> dict[str, float]:
    """Build (or reuse) a store of `messages` over `users` conversations, then time recall for random
    questions.

    With `vectors`, every memory gets a random unit vector (what a vector says does not change what
    searching it costs; embedding 1,000,000 lines would take long) and each question is embedded for
    real, on the recall's path as in a reply. Without `database_url`, the store is a SQLite file under
    CACHE_DIR, kept for the next run. Before timing, the database's files (the SQLite file, or what
    `files` lists) are read once."""
    size = Size(messages, users)
    path = CACHE_DIR / f"scale-{size.key()}{'-vectors' if vectors else ''}.db"
    url = database_url or f"sqlite:///{path}"
    if database_url is None:
        CACHE_DIR.mkdir(exist_ok=True)
        for old in CACHE_DIR.glob(f"scale-{size.per_user * size.users}-{size.users}-*"):
            if not old.name.startswith(path.name):  # an older build of this size
                old.unlink()
    store = await MemoryStore.open(url, vectors=vectors)
    try:
        fill_s, reused = await build(store, url, size, vectors, progress)
        await asyncio.to_thread(_read_through, [path] if database_url is None else files() if files else [])
        rng, talk = random.Random(11), Talk(seed=11)
        states = [
            await store.conversation(ConversationKey("bench", f"c{n}", f"u{n}", "aiko"), f"U{n}")
            for n in (rng.randrange(size.users) for _ in range(queries))
        ]
        now = START + timedelta(days=400)
        questions = [
            "do you remember when we talked about " + " ".join(talk.line().split()[:4]) + "?" for _ in states
        ]
        for state, question in zip(states[:WARM_UP], questions, strict=False):  # loads tiktoken, the encoder
            await store.recall(state, question, now=now, limit=10, skip_recent=0)
        latencies = []
        cpu_started = time.process_time()
        for state, question in zip(states, questions, strict=True):
            t0 = time.perf_counter()
            await store.recall(state, question, now=now, limit=10, skip_recent=0)
            latencies.append((time.perf_counter() - t0) * 1000)
        cpu_ms = (time.process_time() - cpu_started) * 1000 / len(states)
    finally:
        await store.close()
    total = size.per_user * size.users
    file_size = 0
    if database_url is None:
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        file_size = path.stat().st_size
    latencies.sort()
    return {
        "messages": total,
        "users": size.users,
        "fill_s": fill_s,
        "reused": float(reused),
        "p50_ms": latencies[len(latencies) // 2],
        "p95_ms": latencies[int(len(latencies) * 0.95)],
        "cpu_ms": cpu_ms,
        "bytes_per_message": file_size / total if file_size else 0.0,
    }


def _read_through(paths: list[Path]) -> None:
    """Read the database's files once, so recall is timed as on a server that has been running (the
    pages in the OS cache), not on a disk read for the first time: at a million messages a cold
    disk made p95 several hundred ms by itself."""
    for path in paths:
        with path.open("rb") as file:
            while file.read(1 << 20):
                pass


def table(figures: dict[str, float], where: str, command: str) -> list[Figure]:
    """Print one scale run's table; return its headline figure."""
    fill = "reused (built before)" if figures["reused"] else f"{figures['fill_s']:.0f} s"
    print(f"$ {command}")
    print(f"| scale ({where}) | value |")
    print("|---|---|")
    print(f"| messages / users | {figures['messages']:,.0f} / {figures['users']:,.0f} |")
    print(f"| build time (bulk, one transaction) | {fill} |")
    print(f"| recall p50 | {figures['p50_ms']:.2f} ms |")
    print(f"| recall p95 | {figures['p95_ms']:.2f} ms |")
    print(f"| CPU per recall (the process's, every thread) | {figures['cpu_ms']:.2f} ms |")
    if figures["bytes_per_message"]:
        print(f"| database size per message | {figures['bytes_per_message']:.0f} bytes |")
    name = f"recall p95 over {figures['messages']:,.0f} messages ({where})"
    cpu = f"CPU per recall over {figures['messages']:,.0f} messages ({where})"
    return [Figure(name, figures["p95_ms"], "ms", command), Figure(cpu, figures["cpu_ms"], "ms", command)]


async def run_bench(database_url: str | None = None, full: bool = False) -> list[Figure]:
    """`anima bench memory`: build or reuse the store, time recall (vectors on when the model is
    installed), print the table; return the headline figure."""
    where = database_url.split("://", 1)[0] if database_url else "sqlite (WAL file)"
    messages, users = (1_000_000, 10_000) if full else (100_000, 1_000)
    try:
        figures = await scale(messages, users, database_url, vectors=True)
        where += ", vectors on"
    except EmbeddingUnavailable as exc:
        print(f"(scale measured by full text alone: {exc})")
        figures = await scale(messages, users, database_url)
    return table(figures, where, COMMAND + (" --full" if full else ""))
