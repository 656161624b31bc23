"""Discord after a restart: what people wrote while no process ran is answered, in order, once.

discord.py identifies afresh at every start, so the gateway never delivers those messages; the
adapter reads them back from channel history. The unmodified discord.py client runs against the
fake Discord (tests/fakes/discord_server.py) on 127.0.0.1.
"""

from __future__ import annotations

import asyncio

import pytest

from anima.bots.discord import DiscordAdapter
from anima.core.runtime import Runtime
from anima.safety.profanity_model import load_profanity_model
from tests.bots.test_discord import World, open_world, settled, start_bot


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
