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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from anima.app import Runtime
from anima.config import MemorySettings, SafetySettings, Settings
from anima.core.messages import Incoming
from anima.core.ordering import ConversationLocks
from anima.memory.locks import AdvisoryLocks
from bench.burst import percentile, prepare_database, reply_pieces
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
PROCESSES = (1, 2, 4)
ROUNDS = 2  # the 1/2/4 comparison run this many times: the spread says how much the machine's load moved it
# A hosted model's pace: its first chunk after 0.4 s, then 150 chunks a second (~1.7 s a reply)
FIRST_CHUNK_S, PIECES_PER_S = 0.4, 150.0


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


@dataclass
class Scaled:
    """One burst over some processes: rates, CPU, and each message's waits (seconds)."""

    answered: int
    msgs_per_s: float
    cpu_ms_per_msg: float  # all the bot processes together
    busiest_process_cores: float
    all_processes_cores: float
    driver_cores: float  # this process: the fakes and the load
    idle: float  # of the machine's CPUs
    llm_streams_at_once: int  # the most replies streaming from the LLM server at one moment
    first_send: list[float] = field(default_factory=list)  # message → the reply's first message
    whole: list[float] = field(default_factory=list)  # message → the reply shown in full


async def scaling(url: str, processes: int) -> Scaled:
    """The burst over `processes` shard processes of one Discord bot on the database at `url`."""
    from tests.fakes.discord_server import FakeDiscord
    from tests.fakes.openai_server import FakeOpenAI

    llm = FakeOpenAI(pieces=reply_pieces(), first_chunk_s=FIRST_CHUNK_S, pieces_per_s=PIECES_PER_S)
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
        llm.peak_in_flight = 0
        cpu_before = [float(await bot.ask("cpu")) for bot in bots]
        own_before, (idle_before, ticks_before) = time.process_time(), _cpu_ticks()
        started = time.monotonic()
        sent_at: dict[str, float] = {}
        for person, channel in zip(people, servers, strict=True):
            await fake.say(channel, person, "how was your day?", mention_bot=True)
            sent_at[channel] = time.monotonic()
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
    first, shown = _reply_times(fake, sent_at, ending)
    return Scaled(
        answered=answered,
        msgs_per_s=answered / wall,
        cpu_ms_per_msg=sum(used) * 1000 / SCALING_PEOPLE,
        busiest_process_cores=max(used) / wall,
        all_processes_cores=sum(used) / wall,
        driver_cores=own / wall,
        idle=(idle_after - idle_before) / max(ticks_after - ticks_before, 1),
        llm_streams_at_once=llm.peak_in_flight,
        first_send=[first[c] - sent_at[c] for c in first],
        whole=[shown[c] - sent_at[c] for c in shown],
    )


def _reply_times(
    fake: FakeDiscord, sent_at: dict[str, float], ending: str
) -> tuple[dict[str, float], dict[str, float]]:
    """When each channel's reply first showed, and when it showed in full (one message a channel)."""
    first: dict[str, float] = {}
    whole: dict[str, float] = {}
    for call in fake.calls:
        parts = call.path.split("/")  # /channels/{id}/messages[/{id}]
        if len(parts) < 4 or parts[1] != "channels" or parts[3] != "messages" or parts[2] not in sent_at:
            continue
        if call.method not in ("POST", "PATCH") or call.status != 200 or not isinstance(call.body, dict):
            continue
        first.setdefault(parts[2], call.at)
        if ending in (call.body.get("content") or ""):
            whole.setdefault(parts[2], call.at)
    return first, whole


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
    # Each process holds a few lock connections and up to its store's pool (docs/operations.md: count
    # them in max_connections); the margin lets a bench of many processes see waits, not refusals.
    cluster = PostgresCluster(bin_dir, settings="-c max_connections=300")
    cluster.start()
    rounds: list[dict[int, Scaled]] = []
    try:
        for _ in range(ROUNDS):  # 1, 2, 4 in each round, so each round's ratios share one moment's load
            rounds.append({n: await scaling(cluster.url(cluster.create_database()), n) for n in PROCESSES})
        alone = await turns(cluster.url(cluster.create_database()), shared=False)
        shared = await turns(cluster.url(cluster.create_database()), shared=True)
        lock_s = await lock_round_trip(cluster.url(cluster.create_database()))
    finally:
        cluster.stop()
    print(f"$ {COMMAND}    (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(
        f"Discord shards over processes, one PostgreSQL: {SCALING_PEOPLE} people in {SCALING_PEOPLE} "
        f"servers, one mention each at once; the LLM server streams each 150-word reply in 200 chunks, "
        f"the first after {FIRST_CHUNK_S} s, then {PIECES_PER_S:.0f} a second "
        f"({FIRST_CHUNK_S + len(reply_pieces()) / PIECES_PER_S:.1f} s a reply, as a hosted model streams)"
    )
    print(
        "| round | processes | answered | messages/s | × one process | CPU per message | "
        "p50 / p99 first send | p50 / p99 whole reply | LLM streams at once | "
        "cores: busiest process / all bot processes / fakes + load | CPUs idle |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for i, scaled in enumerate(rounds, 1):
        for n, r in scaled.items():
            print(
                f"| {i} | {n} | {r.answered}/{SCALING_PEOPLE} | {r.msgs_per_s:.1f} "
                f"| {r.msgs_per_s / scaled[1].msgs_per_s:.2f} | {r.cpu_ms_per_msg:.1f} ms "
                f"| {percentile(r.first_send, 0.5):.1f} / {percentile(r.first_send, 0.99):.1f} s "
                f"| {percentile(r.whole, 0.5):.1f} / {percentile(r.whole, 0.99):.1f} s "
                f"| {r.llm_streams_at_once} | {r.busiest_process_cores:.2f} / {r.all_processes_cores:.2f} / "
                f"{r.driver_cores:.2f} | {r.idle:.0%} |"
            )
    for n in PROCESSES:
        rates = [scaled[n].msgs_per_s for scaled in rounds]
        cpu = [scaled[n].cpu_ms_per_msg for scaled in rounds]
        p99 = [percentile(scaled[n].whole, 0.99) for scaled in rounds]
        record(f"{n} shard processes: messages/s (median, min-max)", _spread(rates), "", COMMAND)
        record(f"{n} shard processes: CPU per message (median, min-max)", _spread(cpu, " ms"), "", COMMAND)
        record(f"{n} shard processes: p99 whole reply (median, min-max)", _spread(p99, " s"), "", COMMAND)
    ratios = [scaled[4].msgs_per_s / scaled[1].msgs_per_s for scaled in rounds]
    record("4 shard processes / 1 (target ≥ 3×; median, min-max)", _spread(ratios, "×", 2), "", COMMAND)
    print(f"4 processes / 1, messages/s, by round: {', '.join(f'{r:.2f}×' for r in ratios)} (target ≥ 3×)")
    # What the CPU per message allows where each process has a core of its own (not measured here
    # unless the machine has the cores): n processes / one, at each one's CPU per message.
    on_cores = [4 * scaled[1].cpu_ms_per_msg / scaled[4].cpu_ms_per_msg for scaled in rounds]
    print(
        "4 processes / 1 on a core each, from the CPU per message (a bound, not a measurement): "
        f"{', '.join(f'{r:.2f}×' for r in on_cores)}"
    )
    bound = _spread(on_cores, "×", 2)
    record("4 shard processes / 1 on a core each (from CPU per message)", bound, "", COMMAND)
    print(f"({os.cpu_count()} cores for the bot processes, the fakes and the load together: once the CPUs")
    print(" are no longer idle, more processes share the same cores and cannot carry more.)")
    print()
    print(f"{CONVERSATIONS} conversations x {TURNS} turns, one at a time, instant LLM, local PostgreSQL")
    print(f"{'turn':<34}{'median ms':>10}{'p95 ms':>10}")
    rows = [("in-process lock only", alone), ("+ advisory lock + history check", shared)]
    for name, samples in rows:
        print(
            f"{name:<34}{statistics.median(samples) * 1000:>10.2f}{percentile(samples, 0.95) * 1000:>10.2f}"
        )
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


def _spread(values: list[float], unit: str = "", digits: int = 1) -> str:
    return f"{statistics.median(values):.{digits}f}{unit} ({min(values):.{digits}f}-{max(values):.{digits}f})"
