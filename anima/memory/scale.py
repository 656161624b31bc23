"""Recall latency at scale: synthetic conversations filled into a store, recall timed for questions.

Used by `anima bench memory` (`run_bench`) and bench/memory_bench.py. Words are drawn with
Zipf-like frequencies; 100,000 messages over 1,000 users by default, 1,000,000 over 10,000 users
with `full` (about 10 minutes).
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection

from anima.core.messages import ConversationKey
from anima.errors import EmbeddingUnavailable
from anima.memory.store import MemoryStore, _insert_turn
from anima.ops.figures import Figure

COMMAND = "anima bench memory"


def _vocabulary(rng: random.Random, size: int = 5000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(size * 2)}
    return sorted(words)[:size]


class Talk:
    """Synthetic chat lines: words drawn with Zipf-like frequencies, 6 to 24 words a line."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.words = _vocabulary(self.rng)
        self.weights = [1 / (rank + 1) for rank in range(len(self.words))]

    def line(self) -> str:
        return " ".join(self.rng.choices(self.words, self.weights, k=self.rng.randint(6, 24))) + "."


async def scale(
    messages: int, users: int, database_url: str | None = None, queries: int = 400, vectors: bool = False
) -> dict[str, float]:
    """Fill a store with `messages` over `users` conversations, then time recall for random questions.

    With `vectors`, every memory gets a random unit vector (what a vector says does not change what
    searching it costs; embedding 100,000 lines would take hours) and each question is embedded for
    real, on the recall's path as in a reply."""
    import numpy as np

    talk = Talk()
    per_user = messages // users
    noise = np.random.default_rng(5)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scale.db"
        store = await MemoryStore.open(database_url or f"sqlite:///{path}", vectors=vectors)
        index = store.vectors
        started = time.perf_counter()
        states = []
        start = datetime(2026, 1, 1, tzinfo=UTC)
        for user in range(users):
            state = await store.conversation(
                ConversationKey("bench", f"c{user}", f"u{user}", "aiko"), f"U{user}"
            )
            rows: list[dict[str, object]] = []
            previous = ""
            for i in range(per_user):
                content = talk.line()
                rows.append(
                    {
                        "conversation_id": state.id,
                        "role": "user" if i % 2 == 0 else "assistant",
                        "content": content,
                        "platform_message_id": None,
                        "cut": False,
                        "created_at": start + timedelta(minutes=i * 37 + user),
                        "context": previous,
                    }
                )
                previous = content

            def fill(
                conn: Connection, rows: list[dict[str, object]] = rows, conversation: int = state.id
            ) -> None:
                for row in rows:
                    _insert_turn(conn, row)
                if index is not None:
                    entries = [entry for entry, _ in index.unembedded(conn, conversation, len(rows))]
                    random = noise.standard_normal((len(entries), index.dimensions)).astype(np.float32)
                    random /= np.linalg.norm(random, axis=1, keepdims=True)
                    index.store(conn, conversation, entries, random)

            await store.run(fill)
            states.append(state)
        fill_s = time.perf_counter() - started
        latencies = []
        rng = random.Random(11)
        now = start + timedelta(days=400)
        for _ in range(queries):
            state = rng.choice(states)
            question = "do you remember when we talked about " + " ".join(talk.line().split()[:4]) + "?"
            t0 = time.perf_counter()
            await store.recall(state, question, now=now, limit=10, skip_recent=0)
            latencies.append((time.perf_counter() - t0) * 1000)
        await store.close()
        size = 0
        if database_url is None:
            with sqlite3.connect(path) as db:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            size = path.stat().st_size
    latencies.sort()
    return {
        "messages": per_user * users,
        "users": users,
        "fill_s": fill_s,
        "p50_ms": latencies[len(latencies) // 2],
        "p95_ms": latencies[int(len(latencies) * 0.95)],
        "bytes_per_message": size / (per_user * users) if size else 0.0,
    }


async def run_bench(database_url: str | None = None, full: bool = False) -> list[Figure]:
    """`anima bench memory`: fill, time recall (vectors on when the model is installed), print the
    table; return the headline figure."""
    where = database_url.split("://", 1)[0] if database_url else "sqlite (WAL file)"
    messages, users = (1_000_000, 10_000) if full else (100_000, 1_000)
    try:
        figures = await scale(messages, users, database_url, vectors=True)
        where += ", vectors on"
    except EmbeddingUnavailable as exc:
        print(f"(scale measured by full text alone: {exc})")
        figures = await scale(messages, users, database_url)
    command = COMMAND + (" --full" if full else "")
    print(f"$ {command}")
    print(f"| scale ({where}) | value |")
    print("|---|---|")
    print(f"| messages / users | {figures['messages']:,} / {figures['users']:,} |")
    print(f"| fill time (batched, one transaction per user) | {figures['fill_s']:.0f} s |")
    print(f"| recall p50 | {figures['p50_ms']:.2f} ms |")
    print(f"| recall p95 | {figures['p95_ms']:.2f} ms |")
    if figures["bytes_per_message"]:
        print(f"| database size per message | {figures['bytes_per_message']:.0f} bytes |")
    name = f"recall p95 over {figures['messages']:,} messages ({where})"
    return [Figure(name, figures["p95_ms"], "ms", command)]
