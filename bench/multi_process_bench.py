"""Beyond one process on one PostgreSQL: how 1, 2 and 4 processes scale, and what sharing costs a turn.

Run: .venv/bin/python -m bench multi_process_bench  (needs Debian's `postgresql` server binaries)

Scaling: one Discord bot's gateway shards spread over 1, 2 and 4 processes (`shard_count` n in all,
`shard_ids` [i] in each, as docs/operations.md says), all on one throw-away PostgreSQL, against the
fake Discord; 20 people in 20 servers (5 on each shard of 4) send 10 mentions each at once, answered
from the fake OpenAI-compatible server (150 words in 200 chunks, bench/burst.py). Reported: messages
per second (first message sent to the last whole reply) and the CPU per message of all the bot
processes together. The fakes and the load run in this process, on the same cores.

Per turn: one process, an instant LLM, turns of 10 conversations one after another: turns with only
the in-process lock (one process on the database) against turns that also hold the conversation's
advisory lock and check the cached history (what `anima run` does on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING

from anima.app import Runtime
from anima.config import MemorySettings, SafetySettings, Settings
from anima.core.messages import Incoming
from anima.core.ordering import ConversationLocks
from anima.memory.locks import AdvisoryLocks
from bench.burst import MESSAGES, PEOPLE, prepare_database, reply_pieces
from bench.discord_bench import Bot
from bench.report import record
from tests.fakes.llm import InstantLLM
from tests.memory.conftest import PostgresCluster, _pg_bin

if TYPE_CHECKING:
    from tests.fakes.discord_server import FakeDiscord

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


async def scaling(url: str, processes: int) -> dict[str, float]:
    """The burst over `processes` shard processes of one Discord bot on the database at `url`."""
    from tests.fakes.discord_server import FakeDiscord
    from tests.fakes.openai_server import FakeOpenAI

    llm = FakeOpenAI(pieces=reply_pieces())
    llm_url = await llm.start()
    fake = await FakeDiscord().start()
    warm_ups = await _servers(fake, 1)  # one server on each shard of 4 (so of 2 and of 1 too)
    servers = await _servers(fake, PEOPLE // 4)
    await prepare_database(url)
    bots = [await Bot.spawn("anima", fake, llm_url, url, shard=f"{i}/{processes}") for i in range(processes)]
    try:
        warm = fake.user("warm-up")
        for channel in warm_ups:
            await fake.say(channel, warm, "hello", mention_bot=True)
        await fake.wait_until(lambda: all(fake.bot_messages(c) for c in warm_ups), within_s=120)
        people = [fake.user(f"user{i}") for i in range(PEOPLE)]
        cpu_before = [float(await bot.ask("cpu")) for bot in bots]
        started = time.monotonic()
        for turn in range(MESSAGES):
            for person, channel in zip(people, servers, strict=True):
                await fake.say(channel, person, f"message {turn}: how was your day?", mention_bot=True)
        ending = "".join(reply_pieces())[-40:]

        def whole() -> int:
            return sum(ending in m["content"] for c in servers for m in fake.bot_messages(c))

        try:
            await fake.wait_until(lambda: whole() >= PEOPLE * MESSAGES, within_s=600)
        except TimeoutError:
            pass  # reported: fewer whole replies than messages
        wall = time.monotonic() - started
        cpu_after = [float(await bot.ask("cpu")) for bot in bots]
        cpu = sum(after - before for after, before in zip(cpu_after, cpu_before, strict=True))
        answered = whole()
    finally:
        for bot in bots:
            await bot.stop()
        await fake.close()
        await llm.stop()
    total = PEOPLE * MESSAGES
    return {"answered": answered, "msgs_per_s": answered / wall, "cpu_ms_per_msg": cpu * 1000 / total}


async def _servers(fake: FakeDiscord, per_shard: int) -> list[str]:
    """A channel in `per_shard` servers of each of 4 shards (a server's shard: (id >> 22) % 4)."""
    found: dict[int, list[str]] = {shard: [] for shard in range(4)}
    while any(len(channels) < per_shard for channels in found.values()):
        guild = fake.add_guild("Bench")
        shard = found[(int(guild) >> 22) % 4]
        if len(shard) < per_shard:
            shard.append(fake.add_channel(guild, "chat"))
        await asyncio.sleep(0.001)  # a snowflake's shard is its millisecond's: the next one
    return [channel for shard in range(4) for channel in found[shard]]


async def main() -> None:
    bin_dir = _pg_bin()
    if bin_dir is None:
        print("skipped: PostgreSQL server binaries (initdb, pg_ctl) not found")
        return
    cluster = PostgresCluster(bin_dir)
    cluster.start()
    try:
        scaled = {n: await scaling(cluster.url(cluster.create_database()), n) for n in (1, 2, 4)}
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
    print(
        f"Discord shards over processes, one PostgreSQL: {PEOPLE} people × {MESSAGES} mentions at once, "
        "150-word replies streamed in 200 chunks"
    )
    print("| processes | answered | messages/s | × one process | CPU per message (all processes) |")
    print("|---|---|---|---|---|")
    for n, r in scaled.items():
        times = r["msgs_per_s"] / scaled[1]["msgs_per_s"]
        print(
            f"| {n} | {r['answered']:.0f}/{PEOPLE * MESSAGES} | {r['msgs_per_s']:.1f} | {times:.2f} "
            f"| {r['cpu_ms_per_msg']:.1f} ms |"
        )
        record(f"{n} shard processes: messages/s", r["msgs_per_s"], "", COMMAND)
        record(f"{n} shard processes: CPU per message", r["cpu_ms_per_msg"], "ms", COMMAND)
    print(f"({os.cpu_count()} cores for the bot processes, the fakes and the load together: past the cores,")
    print(" more processes share the same CPU and cannot carry more; what a process adds is its own CPU.)")
    print()
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
