"""A cast on Discord: the unmodified discord.py client against the fake, which shows the bot its own
and its webhooks' messages back (as Discord does) and has other bots that answer everything."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from anima.app import Runtime
from anima.bots.discord import DiscordAdapter
from anima.config import BotsSettings, CastSettings, DiscordBotSettings, MemorySettings, Settings
from anima.core.addressing import MAX_BOT_TURNS
from tests.bots.test_discord import World, start_bot
from tests.characters.samples import png_with
from tests.fakes.llm import InstantLLM
from tests.test_casts import cards_dir, in_character

TALKATIVE = {"talkativeness": "1"}
GRIMBLE_PICTURE = png_with({}, rgb=(200, 90, 20))


@pytest.fixture
async def cast(tmp_path: Path, world: World) -> AsyncIterator[Callable[..., Any]]:
    """`await cast(strategy, max_bot_turns)`: a runtime where aiko (the bot's own character) and
    grimble (a webhook persona, with the picture next to his card) play in #general, and its bot."""
    started: list[tuple[Runtime, DiscordAdapter]] = []

    async def start(
        strategy: str = "natural", max_bot_turns: int = 3, **bot: Any
    ) -> tuple[Runtime, InstantLLM]:
        folder = cards_dir(tmp_path, aiko=TALKATIVE, grimble=TALKATIVE | {"avatar": "grimble.png"})
        (folder / "grimble.png").write_bytes(GRIMBLE_PICTURE)
        members = ["aiko", "grimble"]
        chat = f"discord:{world.general}"
        settings = Settings(
            characters_dir=folder,
            memory=MemorySettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/anima.db"),
            bots=BotsSettings(discord=[DiscordBotSettings(token=SecretStr(world.fake.token))]),
            casts=[CastSettings(chat=chat, members=members, strategy=strategy, max_bot_turns=max_bot_turns)],  # type: ignore[arg-type]  # pydantic checks it
        )
        runtime = await Runtime.start(settings)
        llm = InstantLLM(reply=in_character)
        runtime.router.register("embedded", llm)
        started.append((runtime, await start_bot(runtime, world.fake, **bot)))
        return runtime, llm

    yield start
    for runtime, adapter in started:
        await adapter.stop()
        await runtime.close()


async def settle(world: World, runtime: Runtime) -> None:
    """Until nothing more happens: every echo and other bots' answer is out and every reply finished.
    A person's DM, answered after them (the gateway keeps the order), tells that the bot read them."""
    fake, posted = world.fake, -1

    def elsewhere() -> int:
        return sum(1 for m in fake.messages.values() if m["channel_id"] != world.alice_dm)

    while posted != elsewhere():
        posted = elsewhere()
        await fake.settled()
        answered = len(fake.bot_messages(world.alice_dm)) + 1
        await fake.say(world.alice_dm, world.alice, "ping")
        await fake.wait_until(lambda n=answered: len(fake.bot_messages(world.alice_dm)) >= n, within_s=60)
        await runtime.pipeline.turns.idle()


def spoken(world: World) -> list[str]:
    """Who said each of the cast's messages in #general: the bot's own name, or the webhook's."""
    return [m["author"]["username"].capitalize() for m in world.fake.bot_messages(world.general)]


async def test_two_characters_take_turns_and_stop_at_max_bot_turns(world: World, cast: Any) -> None:
    runtime, _ = await cast("natural", max_bot_turns=3)
    world.fake.echo = True
    await world.fake.say(world.general, world.alice, "Hello, you two!")
    await settle(world, runtime)
    said = spoken(world)
    assert said[:2] == ["Aiko", "Grimble"]  # the greetings, when the cast starts here
    assert len(said[2:]) == 3 and said[2] != said[3] != said[4]  # then three turns, taking turns
    texts = [m["content"] for m in world.fake.bot_messages(world.general)][2:]
    assert set(texts) == {"The tea is ready.", "Hmph. Good steel."}


async def test_a_webhook_persona_wears_the_cards_own_picture(world: World, cast: Any) -> None:
    runtime, _ = await cast("list")
    await world.fake.say(world.general, world.alice, "Morning")
    await settle(world, runtime)
    [grimble] = {m["webhook_id"] for m in world.fake.bot_messages(world.general) if m.get("webhook_id")}
    assert world.fake.webhooks[grimble]["name"] == "Anima grimble"
    assert world.fake.webhook_picture(grimble) == GRIMBLE_PICTURE


async def test_echoed_own_and_webhook_messages_never_start_a_loop(world: World, cast: Any) -> None:
    runtime, llm = await cast("list", max_bot_turns=3)
    world.fake.echo = True
    await world.fake.say(world.general, world.alice, "Hi")
    await settle(world, runtime)
    assert spoken(world)[2:] == ["Aiko", "Grimble"]  # each once; their own messages, shown back, got nothing
    cast_requests = [r for r in llm.requests if "ping" not in str(r.messages[-1].content)]
    assert len(cast_requests) == 2


async def test_another_bots_replies_are_cut_after_max_bot_turns(world: World, cast: Any) -> None:
    chatter = world.fake.add_chatty_bot(world.general)
    runtime, _ = await cast("natural", max_bot_turns=3, allow_bots=[chatter["id"]])
    world.fake.echo = True
    await world.fake.say(world.general, world.alice, "Hi all")
    await settle(world, runtime)  # returns: the loop was cut
    messages = [m for m in world.fake.messages.values() if m["channel_id"] == world.general]
    assert any(m["author"]["id"] == chatter["id"] for m in messages)  # it did answer the cast
    assert len(spoken(world)) - 2 <= 3  # after the greetings, at most max_bot_turns member messages


async def test_another_bot_in_a_plain_channel_gets_at_most_max_bot_turns(
    world: World, runtime: Runtime
) -> None:
    """Outside a cast: an allow-listed bot that answers everything, with echoes on, is answered only
    while the run of bot messages (the bot's own included) stays within MAX_BOT_TURNS."""
    chatter = world.fake.add_chatty_bot(world.general)
    world.fake.echo = True
    adapter = await start_bot(runtime, world.fake, allow_bots=[chatter["id"]])
    try:
        await world.fake.say(world.general, world.alice, "hi", mention_bot=True)
        await settle(world, runtime)
        ours = world.fake.bot_messages(world.general)
        assert len(ours) == 2  # to the person, then once to the bot: a third would make the run 4
        messages = [m for m in world.fake.messages.values() if m["channel_id"] == world.general]
        authors = ["person" if not m["author"].get("bot") else m["author"]["username"] for m in messages]
        assert authors == ["person", "aiko", "chatter", "aiko", "chatter"]
        assert MAX_BOT_TURNS == 3
    finally:
        await adapter.stop()
