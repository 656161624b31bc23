"""Discord: the hot path's burst (bench/burst.py) through the real discord.py client and the fake Discord.

20 people × 10 direct messages at once, each answered from an instant OpenAI-compatible server
streaming a 150-word reply in 200 chunks. Three bots, each in its own child process (so its CPU time
and peak RSS are its own; this process runs the fake Discord, the fake LLM server and the load):

- "Anima": Runtime + DiscordAdapter, a Discord-only config with default settings, SQLite;
- "floor: discord.py + aiohttp SSE": a minimal discord.py bot that reads the same stream with
  aiohttp and sends the whole reply once (no memory, no safety, no streaming edits);
- "floor: discord.py, fixed reply": discord.py alone, answering with a fixed text (no LLM call).

Latency is measured by the fake Discord: from sending MESSAGE_CREATE to the first POST replying to
it. One person's first message, answered before the burst, warms each bot up and is not counted.

Run: make bench  (or: .venv/bin/python -m bench discord_bench)
     with a per-stage profile of Anima's process: .venv/bin/python -m bench.discord_bench --profile
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from typing import TYPE_CHECKING

from bench.burst import (
    MESSAGES,
    PEOPLE,
    REPO,
    anima_settings,
    answer_commands,
    percentile,
    prepare_database,
    print_stages,
    reply_pieces,
    stream_reply,
)
from bench.report import record

if TYPE_CHECKING:
    from tests.fakes.discord_server import FakeDiscord

COMMAND = ".venv/bin/python -m bench discord_bench"
BOTS = {
    "anima": "Anima",
    "stream": "floor: discord.py + aiohttp SSE",
    "fixed": "floor: discord.py, fixed reply",
}
FIXED_REPLY = "Sure, I remember that."


@dataclass
class Result:
    bot: str
    messages: int
    answered: int
    msgs_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_msg: float
    peak_rss_mb: float


class Bot:
    """The bot process, driven over its stdin/stdout: `cpu` → its CPU seconds so far, `stop` → peak RSS."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def spawn(
        cls, kind: str, fake: FakeDiscord, llm_url: str, database: str, profile: str = "", shard: str = ""
    ) -> Bot:
        """`database`: a SQLite file or a URL; `shard`: "i/n", this process's shard of n (else all)."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.discord_bench", "--serve", kind, fake.api_base, fake.token,
            llm_url, database, profile, shard,
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


async def run(kind: str, profile: str = "") -> Result:
    from tests.fakes.discord_server import FakeDiscord
    from tests.fakes.openai_server import FakeOpenAI

    llm = FakeOpenAI(pieces=reply_pieces())
    llm_url = await llm.start()
    fake = await FakeDiscord().start()
    warm_up = fake.user("warm-up")
    people = [fake.user(f"user{i}") for i in range(PEOPLE)]
    channels = [fake.dm_channel(person) for person in people]
    with tempfile.TemporaryDirectory() as tmp:
        await prepare_database(f"{tmp}/bench.db")
        bot = await Bot.spawn(kind, fake, llm_url, f"{tmp}/bench.db", profile)
        try:
            warm_channel = fake.dm_channel(warm_up)
            await fake.say(warm_channel, warm_up, "hello")
            await fake.wait_until(lambda: bool(fake.bot_messages(warm_channel)), within_s=120)

            sent_at: dict[str, float] = {}
            cpu_before = float(await bot.ask("cpu"))
            started = time.monotonic()
            for turn in range(MESSAGES):
                for person, channel in zip(people, channels, strict=True):
                    message = await fake.say(channel, person, f"message {turn}: how was your day?")
                    sent_at[message["id"]] = time.monotonic()
            await fake.wait_until(lambda: len(_first_sends(fake).keys() & sent_at) == len(sent_at), 600)
            try:  # the final edits are in (a reply cut short or refused never gets there)
                await fake.wait_until(lambda: _answered(fake, channels) == len(sent_at), within_s=60)
            except TimeoutError:
                pass
            wall = time.monotonic() - started
            cpu_after = float(await bot.ask("cpu"))
        finally:
            peak_mb = await bot.stop()
    await fake.close()
    await llm.stop()

    first = _first_sends(fake)
    latencies = [(first[m] - sent_at[m]) * 1000 for m in sent_at]
    answered = _answered(fake, channels)
    count = len(sent_at)
    return Result(
        BOTS[kind],
        count,
        answered,
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


def _answered(fake: FakeDiscord, channels: list[str]) -> int:
    """Bot messages that show a whole reply: the streamed one to its last word, or the fixed one."""
    ending = "".join(reply_pieces())[-40:]
    return sum(
        1
        for channel in channels
        for message in fake.bot_messages(channel)
        if ending in message["content"] or message["content"] == FIXED_REPLY
    )


async def main(profile: bool = False) -> None:
    profile_path = tempfile.mktemp(suffix=".prof") if profile else ""
    results = [await run("anima", profile_path)]
    results += [await run(kind) for kind in ("stream", "fixed")]  # the floors
    print(f"$ {COMMAND}   # {os.cpu_count()} CPUs, discord.py {version('discord.py')}")
    print(
        f"{PEOPLE} people × {MESSAGES} DMs at once; an instant OpenAI-compatible server streams each "
        "reply: 150 words in 200 chunks"
    )
    print("| bot | answered | messages/s | p50 message → first send | p99 | CPU per message | peak RSS |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.bot} | {r.answered}/{r.messages} | {r.msgs_per_s:.1f} | {r.p50_ms / 1000:.2f} s "
            f"| {r.p99_ms / 1000:.2f} s | {r.cpu_ms_per_msg:.2f} ms | {r.peak_rss_mb:.0f} MiB |"
        )
    anima, floor = results[0], results[1]
    ratio = anima.cpu_ms_per_msg / floor.cpu_ms_per_msg
    print(f"Anima / the discord.py + aiohttp SSE floor, CPU per message: {ratio:.2f}× (target ≤ 2.5×)")
    print("(CPU and RSS are each bot process's own; the fakes and the load run in the benchmark process.)")
    record("Discord burst: Anima CPU per message", anima.cpu_ms_per_msg, "ms", COMMAND)
    record("Discord burst: discord.py + aiohttp floor, CPU per message", floor.cpu_ms_per_msg, "ms", COMMAND)
    record("Discord burst: Anima / floor CPU (target ≤ 2.5×)", f"{ratio:.2f}×", "", COMMAND)
    record("Discord burst: Anima peak RSS, Discord-only (target < 190 MB)", anima.peak_rss_mb, "MiB", COMMAND)
    record("Discord burst: Anima p50 message → first send", anima.p50_ms / 1000, "s", COMMAND)
    record("Discord burst: Anima p99 message → first send", anima.p99_ms / 1000, "s", COMMAND)
    if profile_path:
        print()
        print_stages(profile_path, anima.messages, "Anima on Discord, the burst")
        os.unlink(profile_path)


# -- the bot process ---------------------------------------------------------------------------


async def serve(api_base: str, token: str, llm_url: str, database: str, profile: str, shard: str) -> None:
    from pydantic import SecretStr

    from anima.app import Runtime
    from anima.bots.discord import DiscordAdapter
    from anima.config import DiscordBotSettings

    runtime = await Runtime.start(anima_settings(database, llm_url))
    await runtime.settled()  # the learned guard loaded (and start-up frozen): the burst measures it
    shards = {}
    if shard:  # this process serves shard i of n (docs/operations.md, "Running several processes")
        i, n = shard.split("/")
        shards = {"shard_ids": [int(i)], "shard_count": int(n)}
    settings = DiscordBotSettings(token=SecretStr(token), api_base=api_base, **shards)
    adapter = DiscordAdapter(runtime, settings, 0)
    await adapter.start()
    await answer_commands(profile or None)
    await adapter.stop()
    await runtime.close()
    print(f"stop {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", flush=True)


async def serve_floor(api_base: str, token: str, llm_url: str, streamed: bool) -> None:
    """What discord.py itself costs: receive each message, send one reply to it (streamed from the
    LLM server with aiohttp, or a fixed text)."""
    import aiohttp
    import discord

    discord.http.Route.BASE = api_base
    intents = discord.Intents.none()
    intents.guilds = intents.guild_messages = intents.dm_messages = intents.message_content = True
    client = discord.AutoShardedClient(intents=intents, max_messages=None)
    mentions = discord.AllowedMentions.none()
    session = aiohttp.ClientSession()
    url = llm_url.rstrip("/") + "/chat/completions"

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.author != client.user:
            text = await stream_reply(session, url, message.content) if streamed else FIXED_REPLY
            await message.channel.send(text, reference=message, allowed_mentions=mentions)

    await client.login(token)
    connection = asyncio.create_task(client.connect())
    await client.wait_until_ready()
    await answer_commands()
    await client.close()
    await connection
    await session.close()
    print(f"stop {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--profile", action="store_true", help="print where Anima's CPU per message goes")
    parser.add_argument("--serve", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        kind, api_base, token, llm_url, database, profile, shard = [*args.serve, "", ""][:7]
        if kind == "anima":
            asyncio.run(serve(api_base, token, llm_url, database, profile, shard))
        else:
            asyncio.run(serve_floor(api_base, token, llm_url, streamed=kind == "stream"))
    else:
        asyncio.run(main(profile=args.profile))
