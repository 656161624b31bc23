"""Beyond one process on one PostgreSQL: how 1, 2 and 4 processes scale, and what sharing costs a turn.

Run: .venv/bin/python -m bench multi_process_bench  (needs Debian's `postgresql` server binaries)

Scaling: one Discord bot's gateway shards spread over 1, 2 and 4 processes (`shard_count` n in all,
`shard_ids` [i] in each, as docs/operations.md says), all on one throw-away PostgreSQL, against the
fake Discord; 200 people in 200 servers (50 on each shard of 4) send one mention each at once,
answered from the fake OpenAI-compatible server (150 words in 200 chunks, bench/burst.py). One
message per channel: a channel's replies come one after another, each taking an edit interval
(1.5 s) from its first send to its final edit, so with few channels that pacing, not the process,
would set the rate. Reported: messages per second (first message sent to the last whole reply),
the CPU per message of all the bot processes together, the cores used by the busiest bot process,
by all of them and by this one (the fakes and the load, on the same cores), and how idle the
machine's CPUs were: at 0% idle the processes are sharing cores that other work also wants.

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
from bench.burst import prepare_database, reply_pieces
from bench.discord_bench import Bot
from bench.report import record
from tests.fakes.llm import InstantLLM
from tests.memory.conftest import PostgresCluster, _pg_bin

if TYPE_CHECKING:
    from tests.fakes.discord_server import FakeDiscord

REPO = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m bench multi_process_bench"
CONVERSATIONS, TURNS = 10, 30
SCALING_PEOPLE = 200  # each in a server of their own, one mention each (see the module's docstring)


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


def _cpu_ticks() -> tuple[int, int]:
    """The machine's (idle, total) CPU time so far, from /proc/stat (in clock ticks)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4], sum(fields[:8])  # idle + iowait; user … steal


async def scaling(url: str, processes: int) -> dict[str, float]:
    """The burst over `processes` shard processes of one Discord bot on the database at `url`."""
    from tests.fakes.discord_server import FakeDiscord
    from tests.fakes.openai_server import FakeOpenAI

    llm = FakeOpenAI(pieces=reply_pieces())
    llm_url = await llm.start()
    fake = await FakeDiscord().start()
    warm_ups = await _servers(fake, 1)  # one server on each shard of 4 (so of 2 and of 1 too)
    servers = await _servers(fake, SCALING_PEOPLE // 4)
    await prepare_database(url)
    bots = [await Bot.spawn("anima", fake, llm_url, url, shard=f"{i}/{processes}") for i in range(processes)]
    try:
        warm = fake.user("warm-up")
        for channel in warm_ups:
            await fake.say(channel, warm, "hello", mention_bot=True)
        await fake.wait_until(lambda: all(fake.bot_messages(c) for c in warm_ups), within_s=120)
        people = [fake.user(f"user{i}") for i in range(SCALING_PEOPLE)]
        cpu_before = [float(await bot.ask("cpu")) for bot in bots]
        own_before, (idle_before, ticks_before) = time.process_time(), _cpu_ticks()
        started = time.monotonic()
        for person, channel in zip(people, servers, strict=True):
            await fake.say(channel, person, "how was your day?", mention_bot=True)
        ending = "".join(reply_pieces())[-40:]

        def whole() -> int:
            return sum(ending in m["content"] for c in servers for m in fake.bot_messages(c))

        try:
            await fake.wait_until(lambda: whole() >= SCALING_PEOPLE, within_s=600)
        except TimeoutError:
            pass  # reported: fewer whole replies than messages
        wall = time.monotonic() - started
        own, (idle_after, ticks_after) = time.process_time() - own_before, _cpu_ticks()
        cpu_after = [float(await bot.ask("cpu")) for bot in bots]
        used = [after - before for after, before in zip(cpu_after, cpu_before, strict=True)]
        answered = whole()
    finally:
        for bot in bots:
            await bot.stop()
        await fake.close()
        await llm.stop()
    return {
        "answered": answered,
        "msgs_per_s": answered / wall,
        "cpu_ms_per_msg": sum(used) * 1000 / SCALING_PEOPLE,
        "busiest_process_cores": max(used) / wall,
        "all_processes_cores": sum(used) / wall,
        "driver_cores": own / wall,
        "idle": (idle_after - idle_before) / max(ticks_after - ticks_before, 1),
    }


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
    # Each process holds up to 32 lock connections and 15 of its store's pool at 200 conversations in a
    # turn at once (docs/operations.md: count them in max_connections; the default 100 is too few for 4).
    cluster = PostgresCluster(bin_dir, settings="-c max_connections=300")
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
        f"Discord shards over processes, one PostgreSQL: {SCALING_PEOPLE} people in {SCALING_PEOPLE} "
        "servers, one mention each at once, 150-word replies streamed in 200 chunks"
    )
    print(
        "| processes | answered | messages/s | × one process | CPU per message (all processes) "
        "| cores used: busiest process / all bot processes / fakes + load | CPUs idle |"
    )
    print("|---|---|---|---|---|---|---|")
    for n, r in scaled.items():
        times = r["msgs_per_s"] / scaled[1]["msgs_per_s"]
        print(
            f"| {n} | {r['answered']:.0f}/{SCALING_PEOPLE} | {r['msgs_per_s']:.1f} | {times:.2f} "
            f"| {r['cpu_ms_per_msg']:.1f} ms | {r['busiest_process_cores']:.2f} / "
            f"{r['all_processes_cores']:.2f} / {r['driver_cores']:.2f} | {r['idle']:.0%} |"
        )
        record(f"{n} shard processes: messages/s", r["msgs_per_s"], "", COMMAND)
        record(f"{n} shard processes: CPU per message", r["cpu_ms_per_msg"], "ms", COMMAND)
        record(f"{n} shard processes: CPUs idle", f"{r['idle']:.0%}", "", COMMAND)
    four = scaled[4]["msgs_per_s"] / scaled[1]["msgs_per_s"]
    record("4 shard processes / 1 (target ≥ 3×)", f"{four:.2f}×", "", COMMAND)
    print(f"({os.cpu_count()} cores for the bot processes, the fakes and the load together: once the CPUs")
    print(" are no longer idle, more processes share the same cores and cannot carry more.)")
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
