"""What sharing one PostgreSQL between processes costs a turn: the advisory lock and the history check.

Run: .venv/bin/python -m bench multi_process_bench  (needs Debian's `postgresql` server binaries)

One process, an instant LLM, turns of 10 conversations one after another on a throw-away cluster:
turns with only the in-process lock (one process on the database) against turns that also hold
the conversation's advisory lock and check the cached history (what `anima run` does on PostgreSQL).
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from anima.app import Runtime
from anima.config import MemorySettings, SafetySettings, Settings
from anima.core.messages import Incoming
from anima.core.ordering import ConversationLocks
from anima.memory.locks import AdvisoryLocks
from bench.report import record
from tests.fakes.llm import InstantLLM
from tests.memory.conftest import PostgresCluster, _pg_bin

REPO = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m bench multi_process_bench"
CONVERSATIONS, TURNS = 10, 30


async def turns(url: str, shared: bool) -> list[float]:
    settings = Settings(
        characters_dir=REPO / "characters",
        default_character="aiko",
        memory=MemorySettings(database_url=url, summarize_every=0, llm_facts_every=0, recall_memories=0),
        safety=SafetySettings(flood_messages=1_000_000),
    )
    runtime = await Runtime.start(settings)
    runtime.router.register("embedded", InstantLLM())
    if not shared:  # as with one process on the database: no advisory lock, no history check
        runtime.pipeline._locks = ConversationLocks()
        runtime.memory.other_writers = False
    times: list[float] = []

    async def conversation(c: int) -> None:
        for k in range(TURNS):
            message = Incoming(
                platform="bench", chat_id=f"c{c}", user_id=f"u{c}", display_name="Lin", text=f"hi {k}"
            )
            started = time.perf_counter()
            await runtime.pipeline.handle(message)
            times.append(time.perf_counter() - started)

    try:
        await conversation(99)  # warm-up: the profanity model, connections
        times.clear()
        for c in range(CONVERSATIONS):
            await conversation(c)
    finally:
        await runtime.close()
    return times


async def lock_round_trip(url: str, n: int = 500) -> float:
    locks = AdvisoryLocks(url)
    try:
        async with locks.hold("warm-up"):
            pass
        started = time.perf_counter()
        for i in range(n):
            async with locks.hold(f"k{i % 10}"):
                pass
        return (time.perf_counter() - started) / n
    finally:
        await locks.close()


async def main() -> None:
    bin_dir = _pg_bin()
    if bin_dir is None:
        print("skipped: PostgreSQL server binaries (initdb, pg_ctl) not found")
        return
    cluster = PostgresCluster(bin_dir)
    cluster.start()
    try:
        alone = await turns(cluster.url(cluster.create_database()), shared=False)
        shared = await turns(cluster.url(cluster.create_database()), shared=True)
        lock_s = await lock_round_trip(cluster.url(cluster.create_database()))
    finally:
        cluster.stop()
    rows = [
        ("in-process lock only", statistics.median(alone), sorted(alone)[int(0.95 * len(alone))]),
        (
            "+ advisory lock + history check",
            statistics.median(shared),
            sorted(shared)[int(0.95 * len(shared))],
        ),
    ]
    print(f"$ {COMMAND}    (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"{CONVERSATIONS} conversations x {TURNS} turns, one at a time, instant LLM, local PostgreSQL")
    print(f"{'turn':<34}{'median ms':>10}{'p95 ms':>10}")
    for name, median, p95 in rows:
        print(f"{name:<34}{median * 1000:>10.2f}{p95 * 1000:>10.2f}")
    print(f"advisory lock + unlock alone: {lock_s * 1000:.2f} ms")
    print(f"ratio (shared / in-process, medians): {statistics.median(shared) / statistics.median(alone):.2f}")
    record(
        "turn with in-process lock only (median)", round(statistics.median(alone) * 1000, 2), "ms", COMMAND
    )
    record(
        "turn with advisory lock + history check (median)",
        round(statistics.median(shared) * 1000, 2),
        "ms",
        COMMAND,
    )
    record("advisory lock + unlock", round(lock_s * 1000, 3), "ms", COMMAND)
