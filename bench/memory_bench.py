"""Memory benchmarks: LoCoMo evidence recall, and recall latency at scale.

Run: make bench  (or: .venv/bin/python -m bench memory_bench)
     .venv/bin/anima bench memory --locomo ../shared/benchmarks/locomo [--database URL] [--full]

LoCoMo: every conversation replayed into memory, recall asked for every question with evidence
(see anima/memory/locomo.py). Scale: synthetic conversations (Zipf-distributed words), 100,000
messages over 1,000 users by default, 1,000,000 over 10,000 users with --full (about 10 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection

from anima.app import Runtime
from anima.config import MemorySettings, SafetySettings, Settings
from anima.core.messages import ConversationKey, Incoming
from anima.memory.embedding import EmbeddingUnavailable
from anima.memory.locomo import evaluate, table
from anima.memory.store import MemoryStore, _insert_turn
from bench.report import record
from tests.fakes.llm import InstantLLM

REPO = Path(__file__).resolve().parent.parent
DEFAULT_LOCOMO = REPO.parent / "shared" / "benchmarks" / "locomo"
COMMAND = ".venv/bin/python -m bench memory_bench"
LOCOMO_COMMAND = "anima bench memory --locomo ../shared/benchmarks/locomo"


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
    messages: int, users: int, database_url: str | None = None, queries: int = 400
) -> dict[str, float]:
    """Fill a store with `messages` over `users` conversations, then time recall for random questions."""
    talk = Talk()
    per_user = messages // users
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scale.db"
        store = await MemoryStore.open(database_url or f"sqlite:///{path}")
        started = time.perf_counter()
        states = []
        start = datetime(2026, 1, 1, tzinfo=UTC)
        for user in range(users):
            state = await store.conversation(
                ConversationKey("bench", f"c{user}", f"u{user}", "aiko"), f"U{user}"
            )
            rows = []
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

            def fill(conn: Connection, rows: list[dict[str, object]] = rows) -> None:
                for row in rows:
                    _insert_turn(conn, row)

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


async def pipeline_cost(recall_memories: int, messages: int = 1000, users: int = 10) -> float:
    """CPU ms per message of Pipeline.handle (instant LLM, SQLite file), with recall on or off."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            characters_dir=REPO / "characters",
            memory=MemorySettings(
                database_url=f"sqlite:///{tmp}/bench.db", recall_memories=recall_memories, llm_facts_every=0
            ),
            safety=SafetySettings(flood_messages=1_000_000),
        )
        runtime = await Runtime.start(settings)
        runtime.router.register("embedded", InstantLLM(reply=lambda _r: "Sure, I remember that. " * 4))
        talk = Talk(seed=3)
        for i in range(users * 20):  # some history first, so recall has something to search
            await runtime.pipeline.handle(Incoming("bench", "chat", f"user{i % users}", "Lin", talk.line()))
        await runtime.pipeline.keeper.drain()
        lines = [talk.line() for _ in range(messages)]
        started = time.process_time()
        for i, line in enumerate(lines):
            await runtime.pipeline.handle(Incoming("bench", "chat", f"user{i % users}", "Lin", line))
        cpu = time.process_time() - started
        await runtime.pipeline.keeper.drain()
        await runtime.close()
    return cpu * 1000 / messages


async def run(
    locomo: Path | None, database_url: str | None = None, full: bool = False, vectors: bool = True
) -> None:
    where = database_url.split("://", 1)[0] if database_url else "sqlite (WAL file)"
    if locomo is not None and await asyncio.to_thread(locomo.exists):
        print(f"$ anima bench memory --locomo {locomo}" + (f" --database {where}" if database_url else ""))
        results = await evaluate(locomo, database_url)
        print(table(results, f"LoCoMo, full-text + fusion ({where})"))
        recall_at_10 = f"{results.mean(10):.3f}"
        record(f"LoCoMo evidence recall@10, full-text ({where})", recall_at_10, "", LOCOMO_COMMAND)
        if not vectors:
            print("\n(vector recall not measured: --vectors measures it, about 20 minutes on 2 cores)")
        else:
            try:
                with_vectors = await evaluate(locomo, database_url, vectors=True)
            except EmbeddingUnavailable as exc:
                print(f"\n(vector recall not measured: {exc})")
            else:
                print()
                print(table(with_vectors, f"LoCoMo, + vectors ({where})"))
                recall_at_10 = f"{with_vectors.mean(10):.3f}"
                record(f"LoCoMo evidence recall@10, + vectors ({where})", recall_at_10, "", LOCOMO_COMMAND)
    else:
        print(f"(LoCoMo data not found at {locomo}: skipped; pass --locomo PATH)")
    off, on = [], []
    for _ in range(2):  # interleaved, so machine noise hits both alike
        off.append(await pipeline_cost(0))
        on.append(await pipeline_cost(8))
    print()
    print(f"$ {COMMAND}")
    print("| pipeline CPU per message (instant LLM, SQLite file) | ms |")
    print("|---|---|")
    print(f"| recall off (memory.recall_memories: 0) | {min(off):.2f} |")
    print(f"| recall on (8 memories, full-text) | {min(on):.2f} |")
    record("pipeline CPU per message, recall on (8 memories)", min(on), "ms", COMMAND)
    messages, users = (1_000_000, 10_000) if full else (100_000, 1_000)
    figures = await scale(messages, users, database_url)
    print()
    print(f"$ {COMMAND}" + (" --full" if full else ""))
    print(f"| scale ({where}) | value |")
    print("|---|---|")
    print(f"| messages / users | {figures['messages']:,} / {figures['users']:,} |")
    print(f"| fill time (batched, one transaction per user) | {figures['fill_s']:.0f} s |")
    print(f"| recall p50 | {figures['p50_ms']:.2f} ms |")
    print(f"| recall p95 | {figures['p95_ms']:.2f} ms |")
    scaled = f"{COMMAND}" + (" --full" if full else "")
    record(f"recall p95 over {figures['messages']:,} messages ({where})", figures["p95_ms"], "ms", scaled)
    if figures["bytes_per_message"]:
        print(f"| database size per message | {figures['bytes_per_message']:.0f} bytes |")


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="memory_bench")
    parser.add_argument("--locomo", type=Path, default=Path(os.environ.get("ANIMA_LOCOMO", DEFAULT_LOCOMO)))
    parser.add_argument("--database", help="a PostgreSQL URL to run on (default: a temporary SQLite file)")
    parser.add_argument("--full", action="store_true", help="1,000,000 messages over 10,000 users")
    parser.add_argument("--vectors", action="store_true", help="LoCoMo with vector recall too (slow)")
    return parser.parse_args(argv)


async def main() -> None:
    args = _arguments([a for a in os.environ.get("ANIMA_MEMORY_BENCH", "").split() if a])
    await run(args.locomo, args.database, args.full, args.vectors)


if __name__ == "__main__":
    args = _arguments()
    asyncio.run(run(args.locomo, args.database, args.full, args.vectors))
