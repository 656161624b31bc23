"""Discord after a restart: what people wrote while no process ran is answered, in order, once.

discord.py identifies afresh at every start, so the gateway never delivers those messages; the
adapter reads them back from channel history. The unmodified discord.py client runs against the
fake Discord (tests/fakes/discord_server.py) on 127.0.0.1; the last test runs `anima run` as a
real process, kills it with SIGKILL while replies stream, and starts another.

The kill comes while the fake Discord holds every message the bot sends, once each reply it took is
marked answered in the inbox: a kill in the moment between Discord taking a reply and that mark
would send the reply again after the restart (replies go out at least once; see README, "Running
several processes"). A reply cut by the kill stays in the chat as a fragment beside the full one.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from anima.app import Runtime
from anima.bots.discord import DiscordAdapter
from anima.safety.profanity_model import load_profanity_model
from tests.bots.test_discord import World, open_world, settled, start_bot
from tests.conftest import REPO
from tests.fakes.discord_server import FakeDiscord
from tests.reliability.echo_llm import EchoingOpenAI
from tests.reliability.echo_llm import expected_reply as echo_reply


@pytest.fixture(autouse=True)
async def profanity_model_loaded() -> None:
    """Read once before the first reply (seconds on a busy machine), not inside a reply's time limit."""
    await asyncio.to_thread(load_profanity_model)


async def test_messages_sent_while_the_bot_was_down_are_answered_in_order_at_start(runtime: Runtime) -> None:
    async with open_world() as world:
        fake = world.fake
        first = await start_bot(runtime, fake)
        await fake.say(world.alice_dm, world.alice, "one")
        await fake.say(world.general, world.bob, "hello", mention_bot=True)
        await settled(world, world.alice_dm, ["You said: one"])
        await settled(world, world.general, ["You said: hello"])
        await first.stop()

        await fake.say(world.alice_dm, world.alice, "two")
        await fake.say(world.alice_dm, world.alice, "three")
        await fake.say(world.general, world.bob, "just chatting")  # not addressed to the bot
        await fake.say(world.general, world.bob, "are you there?", mention_bot=True)

        second = await start_bot(runtime, fake)
        try:
            await settled(world, world.alice_dm, ["You said: one", "You said: two", "You said: three"])
            await settled(world, world.general, ["You said: hello", "You said: are you there?"])
        finally:
            await second.stop()


async def test_a_message_arriving_live_during_the_catch_up_is_answered_after_the_backlog(
    runtime: Runtime,
) -> None:
    async with open_world() as world:
        fake = world.fake
        first = await start_bot(runtime, fake)
        await fake.say(world.alice_dm, world.alice, "one")
        await settled(world, world.alice_dm, ["You said: one"])
        await first.stop()
        await fake.say(world.alice_dm, world.alice, "two")
        fake.say_at_connect(world.alice_dm, world.alice, "three")  # live, right behind READY

        second = await start_bot(runtime, fake)
        try:
            await settled(world, world.alice_dm, ["You said: one", "You said: two", "You said: three"])
        finally:
            await second.stop()


async def test_a_restart_answers_nothing_twice(runtime: Runtime) -> None:
    async with open_world() as world:
        fake = world.fake
        first = await start_bot(runtime, fake)
        for text in ("one", "two"):
            await fake.say(world.alice_dm, world.alice, text)
        await settled(world, world.alice_dm, ["You said: one", "You said: two"])
        await first.stop()

        second = await start_bot(runtime, fake)
        try:
            await fake.wait_until(lambda: world.alice_dm in fake.history_reads)
            await fake.say(world.alice_dm, world.alice, "three")
            await settled(world, world.alice_dm, ["You said: one", "You said: two", "You said: three"])
        finally:
            await second.stop()


async def test_two_shard_processes_each_answer_their_own_servers_once(runtime: Runtime) -> None:
    async with open_world() as world:
        fake = world.fake
        guilds = _guilds_on_both_shards(world)
        bots: list[DiscordAdapter] = []
        try:
            for shard in (0, 1):
                bots.append(await start_bot(runtime, fake, shard_count=2, shard_ids=[shard]))
            assert sorted(tuple(i["shard"]) for i in fake.identifies) == [(0, 2), (1, 2)]
            for channel in guilds.values():
                await fake.say(channel, world.alice, "hi", mention_bot=True)
            await fake.say(world.alice_dm, world.alice, "hi")
            for channel in [*guilds.values(), world.alice_dm]:
                await settled(world, channel, ["You said: hi"])
        finally:
            for bot in bots:
                await bot.stop()


def _guilds_on_both_shards(world: World) -> dict[int, str]:
    """A channel in a server of shard 0 and one of shard 1 (a server's shard: (id >> 22) % 2)."""
    found: dict[int, str] = {}
    while len(found) < 2:
        guild = world.fake.add_guild("Shard test")
        found.setdefault((int(guild) >> 22) % 2, world.fake.add_channel(guild, "chat"))
    return found


# -- kill -9 in the middle of a load ---------------------------------------------------------------

PEOPLE = 3
WORDS = 6  # words per reply, streamed one per chunk
ANIMA = Path(sys.executable).with_name("anima")  # the installed command


def expected_reply(text: str) -> str:
    return echo_reply(text, WORDS)


def anima_config(tmp_path: Path, fake: FakeDiscord, llm_url: str) -> Path:
    config = {
        "characters_dir": str(REPO / "characters"),
        "default_character": "aiko",
        "llm": {
            "default": "fake",
            "backends": {"fake": {"kind": "openai", "base_url": llm_url, "api_key": "k", "model": "m"}},
        },
        "memory": {
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'anima.db'}",
            "summarize_every": 0,
            "llm_facts_every": 0,
            "recall_memories": 0,
        },
        "bots": {"discord": [{"token": fake.token, "api_base": fake.api_base, "edit_interval_s": 0.2}]},
    }
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


async def anima_run(config: Path, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            ANIMA, "--config", str(config), "run", cwd=config.parent, stdout=out, stderr=out
        )


async def polled(condition: Callable[[], bool], within_s: float) -> None:
    """Wait for a commit of another process (checked every 20 ms, bounded): nothing here to wait on."""
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def inbox_answered(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return db.execute("SELECT COUNT(answered_at) FROM inbox").fetchone()[0]


async def test_kill_9_mid_load_then_a_restart_answers_every_message_once_in_order(tmp_path: Path) -> None:
    llm = EchoingOpenAI(words=WORDS, chunk_delay_s=0.05)
    await llm.start()
    fake = await FakeDiscord().start()
    people = [fake.user(f"P{i}") for i in range(PEOPLE)]
    dms = [fake.dm_channel(p) for p in people]
    sent: list[list[str]] = [[] for _ in people]
    config = anima_config(tmp_path, fake, llm.base_url)
    database = tmp_path / "anima.db"

    def finished(i: int) -> list[str]:
        """Person i's replies that were shown whole (a reply cut by the kill stays as a fragment)."""
        whole = {expected_reply(text) for text in sent[i]}
        return [m["content"] for m in fake.bot_messages(dms[i]) if m["content"] in whole]

    async def say_round(turn: int) -> None:
        for i, person in enumerate(people):
            sent[i].append(f"P{i} says {turn}")
            await fake.say(dms[i], person, sent[i][-1])

    first = second = None
    try:
        first = await anima_run(config, tmp_path / "first.log")
        await fake.wait_until(lambda: fake.sessions, within_s=60)
        await say_round(0)
        await fake.wait_until(lambda: all(finished(i) for i in range(PEOPLE)), within_s=60)
        await say_round(1)
        await say_round(2)
        # mid-load: replies streaming; hold what the bot sends, until what went out is marked answered
        await fake.wait_until(lambda: sum(len(fake.bot_messages(d)) for d in dms) > PEOPLE, within_s=30)
        fake.hold("POST", r"/channels/\d+/messages")
        fake.hold("PATCH", r"/channels/\d+/messages/\d+")
        await polled(lambda: inbox_answered(database) == sum(len(finished(i)) for i in range(PEOPLE)), 20)
        first.kill()
        await first.wait()
        fake.release()
        assert sum(len(finished(i)) for i in range(PEOPLE)) < 3 * PEOPLE, "the load ended before the kill"
        await say_round(3)  # while no process runs: only channel history has these

        second = await anima_run(config, tmp_path / "second.log")
        await fake.wait_until(lambda: all(len(finished(i)) >= 4 for i in range(PEOPLE)), within_s=60)
    finally:
        for process in (first, second):
            if process is not None and process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), 30)
        await fake.close()
        await llm.stop()

    for i in range(PEOPLE):
        assert finished(i) == [expected_reply(text) for text in sent[i]]
