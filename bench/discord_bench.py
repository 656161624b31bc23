"""Discord adapter benchmark: N users x M messages through the real discord.py client and the fake Discord.

The bot (Runtime + DiscordAdapter, instant LLM, SQLite file) runs in a child process so that its CPU
time and peak RSS are its own; this process runs the fake Discord and the load. Latency is measured
by the fake: from sending MESSAGE_CREATE to receiving the first POST that replies to it.

Run: make bench  (or: .venv/bin/python -m bench discord_bench)
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from bench.report import record
from tests.fakes.discord_server import FakeDiscord

REPO = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m bench discord_bench"
REPLY = "Sure, I remember that. " * 4  # 20 words: 20 streamed pieces per reply


@dataclass
class Result:
    scenario: str
    messages: int
    msgs_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_msg: float
    peak_rss_mb: float


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Bot:
    """The bot process, driven over its stdin/stdout: `cpu` → its CPU seconds so far, `stop` → peak RSS."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def spawn(cls, fake: FakeDiscord, database: Path, bare: bool) -> Bot:
        mode = "bare" if bare else "serve"
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.discord_bench", mode, fake.api_base, fake.token, str(database),
            cwd=REPO, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        bot = cls(process)
        await bot._expect("ready")
        return bot

    async def ask(self, command: str) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{command}\n".encode())
        await self.process.stdin.drain()
        return await self._expect(command)

    async def _expect(self, word: str) -> str:
        assert self.process.stdout is not None
        line = (await asyncio.wait_for(self.process.stdout.readline(), 120)).decode().strip()
        if not line.startswith(word):
            raise RuntimeError(f"the bot process said {line!r}, expected {word!r}")
        return line.removeprefix(word).strip()

    async def stop(self) -> float:
        """Stop the bot; returns its peak RSS in MiB."""
        peak_kib = float(await self.ask("stop"))
        await asyncio.wait_for(self.process.wait(), 60)
        return peak_kib / 1024


async def run(users: int, per_user: int, rate: float | None, bare: bool = False) -> Result:
    """`rate` None: every message at once (throughput); else messages/s spread evenly (latency).
    `bare`: a minimal discord.py bot that sends a fixed reply instead of Anima (the library's floor)."""
    fake = await FakeDiscord().start()
    people = [fake.user(f"user{i}") for i in range(users)]
    channels = [fake.dm_channel(person) for person in people]
    with tempfile.TemporaryDirectory() as tmp:
        bot = await Bot.spawn(fake, Path(tmp) / "bench.db", bare)
        try:
            # Warm-up: each user's first message opens their conversation; not measured.
            for person, channel in zip(people, channels, strict=True):
                await fake.say(channel, person, "hello")
            await fake.wait_until(lambda: all(fake.bot_messages(c) for c in channels), within_s=120)

            sent_at: dict[str, float] = {}
            cpu_before = float(await bot.ask("cpu"))
            started = time.monotonic()
            for turn in range(per_user):
                for person, channel in zip(people, channels, strict=True):
                    message = await fake.say(channel, person, f"message {turn}: how was your day?")
                    sent_at[message["id"]] = time.monotonic()
                    if rate:
                        await asyncio.sleep(max(0.0, started + len(sent_at) / rate - time.monotonic()))
            total = users * (per_user + 1)
            await fake.wait_until(lambda: len(_first_sends(fake)) >= total, within_s=300)
            wall = max(_first_sends(fake)[m] for m in sent_at) - started
            cpu_after = float(await bot.ask("cpu"))
        finally:
            peak_mb = await bot.stop()
    await fake.close()

    first = _first_sends(fake)
    latencies = [(first[m] - sent_at[m]) * 1000 for m in sent_at]
    count = len(sent_at)
    load = f"{users} users × {per_user}, " + ("all at once" if rate is None else f"{rate:.0f} msg/s")
    return Result(
        ("bare discord.py, " if bare else "Anima, ") + load,
        count,
        count / wall,
        percentile(latencies, 0.50),
        percentile(latencies, 0.99),
        (cpu_after - cpu_before) * 1000 / count,
        peak_mb,
    )


def _first_sends(fake: FakeDiscord) -> dict[str, float]:
    """When the first message replying to each user message arrived at the fake."""
    first: dict[str, float] = {}
    for call in fake.calls:
        if call.method == "POST" and call.status == 200 and call.body and call.body.get("message_reference"):
            first.setdefault(str(call.body["message_reference"]["message_id"]), call.at)
    return first


async def main() -> None:
    # At most 9 messages per person in 20 s: more would meet the safety flood limit (10 per 20 s).
    results = [
        await run(100, 8, None),
        await run(100, 8, None, bare=True),
        await run(50, 6, 40.0),
        await run(50, 6, 40.0, bare=True),
    ]
    print(f"$ {COMMAND}   # {os.cpu_count()} CPUs, discord.py {version('discord.py')}")
    print("| Discord, instant LLM (20-word replies), SQLite WAL | messages | messages/s "
          "| p50 update→first send | p99 | bot CPU per message | bot peak RSS |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.scenario} | {r.messages} | {r.msgs_per_s:.0f} | {r.p50_ms:.1f} ms | {r.p99_ms:.1f} ms "
            f"| {r.cpu_ms_per_msg:.2f} ms | {r.peak_rss_mb:.0f} MiB |"
        )
    for r in results:
        if r.scenario.startswith("Anima"):
            load = r.scenario.removeprefix("Anima, ")
            record(f"Discord {load}: messages/s", r.msgs_per_s, "", COMMAND)
            record(f"Discord {load}: p99 message → first send", r.p99_ms, "ms", COMMAND)
            record(f"Discord {load}: bot CPU per message", r.cpu_ms_per_msg, "ms", COMMAND)
    print("(CPU and RSS are the bot process's own; the fake Discord runs in the benchmark process.")
    print(" 'bare discord.py' receives the same messages and sends a fixed reply: no memory, no LLM.)")


# -- the bot process ---------------------------------------------------------------------------


async def serve(api_base: str, token: str, database: str) -> None:
    from pydantic import SecretStr

    from anima.app import Runtime
    from anima.bots.discord import DiscordAdapter
    from anima.config import DiscordBotSettings, MemorySettings, Settings
    from tests.fakes.llm import InstantLLM

    settings = Settings(
        characters_dir=REPO / "characters",
        memory=MemorySettings(database_url=f"sqlite+aiosqlite:///{database}"),
    )
    runtime = await Runtime.start(settings)
    runtime.router.register("embedded", InstantLLM(reply=lambda _request: REPLY))
    adapter = DiscordAdapter(runtime, DiscordBotSettings(token=SecretStr(token), api_base=api_base), 0)
    await adapter.start()
    await answer_commands()
    await adapter.stop()
    await runtime.close()
    print(f"stop {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", flush=True)


async def serve_bare(api_base: str, token: str) -> None:
    """What discord.py itself costs: receive each message, send one fixed reply to it."""
    import discord

    discord.http.Route.BASE = api_base
    intents = discord.Intents.none()
    intents.guilds = intents.guild_messages = intents.dm_messages = intents.message_content = True
    client = discord.AutoShardedClient(intents=intents, max_messages=None)
    mentions = discord.AllowedMentions.none()

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.author != client.user:
            await message.channel.send(REPLY.strip(), reference=message, allowed_mentions=mentions)

    await client.login(token)
    connection = asyncio.create_task(client.connect())
    await client.wait_until_ready()
    await answer_commands()
    await client.close()
    await connection
    print(f"stop {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", flush=True)


async def answer_commands() -> None:
    """Tell the benchmark process this bot is ready, then answer `cpu` until `stop`."""
    print("ready", flush=True)
    while (command := (await asyncio.to_thread(sys.stdin.readline)).strip()) != "stop":
        if command == "cpu":
            print(f"cpu {time.process_time()}", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        asyncio.run(serve(*sys.argv[2:5]))
    elif sys.argv[1:2] == ["bare"]:
        asyncio.run(serve_bare(*sys.argv[2:4]))
    else:
        asyncio.run(main())
