"""The Discord adapter: the unmodified discord.py client against a fake Discord on 127.0.0.1."""

from __future__ import annotations

import contextlib
import itertools
import logging
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import discord
import pytest
from pydantic import SecretStr

from anima.app import Runtime
from anima.bots.discord import DiscordAdapter
from anima.commands import COMMANDS
from anima.config import DiscordBotSettings
from anima.core.surface import NOT_YOURS
from anima.errors import AnimaError, ConfigError
from anima.llm.base import GenerationRequest
from tests.fakes.discord_server import (
    BOT_PERMISSIONS,
    MANAGE_GUILD,
    MANAGE_WEBHOOKS,
    FakeDiscord,
)
from tests.fakes.llm import InstantLLM

EPHEMERAL = 1 << 6


@dataclass
class World:
    fake: FakeDiscord
    guild: str
    general: str  # a channel where the bot may manage webhooks
    thread: str  # a thread in #general
    quiet: str  # a channel of a server where the bot may not manage webhooks
    alice: dict[str, Any]
    bob: dict[str, Any]
    alice_dm: str


@contextlib.asynccontextmanager
async def open_world() -> AsyncIterator[World]:
    """A fake Discord with two servers and two people; afterwards, no request went to an unknown route."""
    fake = await FakeDiscord().start()
    guild = fake.add_guild("Tavern")
    general = fake.add_channel(guild, "general")
    plain = fake.add_guild("Plain", bot_permissions=BOT_PERMISSIONS & ~MANAGE_WEBHOOKS)
    alice, bob = fake.user("Alice"), fake.user("Bob")
    yield World(
        fake,
        guild,
        general,
        fake.add_thread(general),
        fake.add_channel(plain, "quiet"),
        alice,
        bob,
        fake.dm_channel(alice),
    )
    await fake.close()
    assert not fake.unknown, f"the bot called routes the fake does not know: {fake.unknown}"


async def start_bot(runtime: Runtime, fake: FakeDiscord, **settings: Any) -> DiscordAdapter:
    settings.setdefault("edit_interval_s", 0.2)
    config = DiscordBotSettings(token=SecretStr(fake.token), api_base=fake.api_base, **settings)
    adapter = DiscordAdapter(runtime, config, 0)
    await adapter.start()
    return adapter


async def replies(world: World, channel: str, count: int = 1) -> list[dict[str, Any]]:
    """The bot's messages in `channel` once there are `count` of them (they may still be streaming)."""
    await world.fake.wait_until(lambda: len(world.fake.bot_messages(channel)) >= count)
    return world.fake.bot_messages(channel)


async def settled(world: World, channel: str, texts: list[str]) -> list[dict[str, Any]]:
    """The bot's messages in `channel` once they read `texts`: streamed, edited and final."""

    def contents() -> list[str]:
        return [m["content"] for m in world.fake.bot_messages(channel)]

    try:
        await world.fake.wait_until(lambda: contents() == texts)
    except TimeoutError:
        raise AssertionError(f"the bot's messages read {contents()}, expected {texts}") from None
    return world.fake.bot_messages(channel)


async def command_reply(world: World, interaction_id: str) -> dict[str, Any]:
    await world.fake.wait_until(lambda: interaction_id in world.fake.interaction_responses)
    return world.fake.interaction_responses[interaction_id]


def count_rows(runtime: Runtime, sql: str, *params: str) -> int:
    """Count rows straight from the SQLite file, as an auditor of /forget would."""
    path = runtime.settings.database_url.split("///", 1)[1]
    with sqlite3.connect(path) as db:
        return db.execute(sql, params).fetchone()[0]


# -- connecting ----------------------------------------------------------------------------------


async def test_connects_with_guild_dm_and_message_content_intents(bot: DiscordAdapter, world: World) -> None:
    guilds, guild_messages, dm_messages, message_content = 1 << 0, 1 << 9, 1 << 12, 1 << 15
    assert world.fake.identifies[0]["intents"] == guilds | guild_messages | dm_messages | message_content


async def test_slash_commands_are_the_command_table(bot: DiscordAdapter, world: World) -> None:
    assert [(c["name"], c["description"]) for c in world.fake.commands] == [
        (c.name, c.description) for c in COMMANDS
    ]


async def test_each_slash_command_takes_what_its_row_does(bot: DiscordAdapter, world: World) -> None:
    string, attachment = 3, 11
    options = {
        c["name"]: [(o["name"], o["type"], o["description"], o.get("required")) for o in c.get("options", [])]
        for c in world.fake.commands
    }
    assert options["about"] == []
    assert options["character"] == [("args", string, "[NAME]", False)]
    assert options["sing"] == [
        ("args", string, "tempo=96 | C4 D4 E4 | la la la", False),
        ("file", attachment, "a MIDI or MusicXML file", False),
    ]
    assert all(options[c.name] != [] for c in COMMANDS if c.args)


async def test_about_answers_from_the_one_function(bot: DiscordAdapter, world: World) -> None:
    interaction = await world.fake.slash(world.alice_dm, world.alice, "about")
    assert (await command_reply(world, interaction))["data"]["content"].startswith("Aiko (aiko): ")


async def test_a_refused_token_fails_start_saying_where_to_get_a_new_one(
    runtime: Runtime, world: World
) -> None:
    config = DiscordBotSettings(token=SecretStr("wrong"), api_base=world.fake.api_base)
    with pytest.raises(ConfigError, match="developer portal"):
        await DiscordAdapter(runtime, config, 0).start()


async def test_an_unreachable_discord_fails_start_naming_the_bot_and_the_address_not_the_token(
    runtime: Runtime,
) -> None:
    api_base = "http://127.0.0.1:9/api/v10"  # nothing listens there
    config = DiscordBotSettings(token=SecretStr("a-token-never-shown"), api_base=api_base)
    with pytest.raises(
        AnimaError, match=rf"^bots.discord\[0\]: cannot reach Discord at {api_base} \("
    ) as caught:
        await DiscordAdapter(runtime, config, 0).start()
    assert "a-token-never-shown" not in str(caught.value)
    assert discord.http.Route.BASE == "https://discord.com/api/v10"  # given back: another bot may start


async def test_message_content_intent_off_fails_start_saying_how_to_enable_it(
    runtime: Runtime, world: World
) -> None:
    world.fake.close_on_identify = 4014
    with pytest.raises(ConfigError, match="Message Content Intent"):
        await start_bot(runtime, world.fake)


async def test_bots_with_different_api_bases_in_one_process_are_refused(
    runtime: Runtime, bot: DiscordAdapter, world: World
) -> None:
    config = DiscordBotSettings(token=SecretStr("x"), api_base="http://127.0.0.1:1/api/v10")
    with pytest.raises(ConfigError, match="api_base"):
        await DiscordAdapter(runtime, config, 1).start()


# -- when to answer ------------------------------------------------------------------------------


async def test_a_mention_in_a_server_channel_is_answered_with_a_reply(
    bot: DiscordAdapter, world: World
) -> None:
    asked = await world.fake.say(world.general, world.alice, "how are you?", mention_bot=True)
    [answer] = await settled(world, world.general, ["You said: how are you?"])
    assert answer["message_reference"]["message_id"] == asked["id"]


async def test_a_direct_message_is_answered(bot: DiscordAdapter, world: World) -> None:
    await world.fake.say(world.alice_dm, world.alice, "hello there")
    await settled(world, world.alice_dm, ["You said: hello there"])


async def test_a_message_arriving_right_behind_ready_is_answered(runtime: Runtime, world: World) -> None:
    world.fake.say_at_connect(world.alice_dm, world.alice, "early bird")
    adapter = await start_bot(runtime, world.fake)
    try:
        await settled(world, world.alice_dm, ["You said: early bird"])
    finally:
        await adapter.stop()


async def test_a_server_message_without_mention_reply_or_binding_is_not_answered(
    bot: DiscordAdapter, world: World
) -> None:
    await world.fake.say(world.general, world.alice, "just chatting")
    await world.fake.say(world.general, world.alice, "ping", mention_bot=True)
    await replies(world, world.general)
    await bot.stop()  # whatever was still being answered is now delivered
    assert [m["content"] for m in world.fake.bot_messages(world.general)] == ["You said: ping"]


async def test_a_server_message_opening_with_a_characters_name_is_answered_by_it(
    bot: DiscordAdapter, world: World
) -> None:
    await world.fake.say(world.general, world.alice, "Grimble, any rumours?")
    [answer] = await settled(world, world.general, ["You said: Grimble, any rumours?"])
    assert answer["author"]["username"] == "Grimble"


async def test_a_reply_to_the_characters_message_continues_without_a_mention(
    bot: DiscordAdapter, world: World
) -> None:
    await world.fake.say(world.general, world.alice, "first", mention_bot=True)
    [first] = await replies(world, world.general)
    await world.fake.say(world.general, world.alice, "second", reply_to=first["id"])
    await settled(world, world.general, ["You said: first", "You said: second"])


async def test_another_bots_message_is_ignored(bot: DiscordAdapter, world: World) -> None:
    other = world.fake.user("OtherBot", bot=True)
    await world.fake.say(world.alice_dm, other, "bot talk")
    await world.fake.say(world.alice_dm, world.alice, "person talk")
    await replies(world, world.alice_dm)
    await bot.stop()  # whatever was still being answered is now delivered
    assert [m["content"] for m in world.fake.bot_messages(world.alice_dm)] == ["You said: person talk"]


async def test_an_allow_listed_bot_is_answered_at_most_three_times_in_a_row(
    runtime: Runtime, world: World
) -> None:
    other = world.fake.user("OtherBot", bot=True)
    adapter = await start_bot(runtime, world.fake, allow_bots=[other["id"]])
    try:
        for i in range(5):
            await world.fake.say(world.alice_dm, other, f"bot {i}")
        await world.fake.say(world.alice_dm, world.alice, "person")
        await replies(world, world.alice_dm, 4)
    finally:
        await adapter.stop()  # whatever was still being answered is now delivered
    answers = sorted(m["content"] for m in world.fake.bot_messages(world.alice_dm))
    assert answers == ["You said: bot 0", "You said: bot 1", "You said: bot 2", "You said: person"]


async def test_a_system_message_is_ignored(bot: DiscordAdapter, world: World) -> None:
    pins_add = 6
    await world.fake.say(world.alice_dm, world.alice, "pinned a message", message_type=pins_add)
    await world.fake.say(world.alice_dm, world.alice, "real")
    await replies(world, world.alice_dm)
    await bot.stop()  # whatever was still being answered is now delivered
    assert [m["content"] for m in world.fake.bot_messages(world.alice_dm)] == ["You said: real"]


async def test_a_message_replayed_by_the_gateway_is_answered_once(bot: DiscordAdapter, world: World) -> None:
    message = await world.fake.say(world.alice_dm, world.alice, "once")
    await world.fake.dispatch("MESSAGE_CREATE", message)
    await world.fake.say(world.alice_dm, world.alice, "twice")
    await replies(world, world.alice_dm, 2)
    await bot.stop()  # whatever was still being answered is now delivered
    assert [m["content"] for m in world.fake.bot_messages(world.alice_dm)] == [
        "You said: once",
        "You said: twice",
    ]


async def test_a_name_at_the_start_of_a_message_picks_that_character(
    bot: DiscordAdapter, world: World, instant_llm: InstantLLM
) -> None:
    await world.fake.say(world.general, world.alice, "Grimble, what's in the pot?", mention_bot=True)
    [answer] = await replies(world, world.general)
    assert answer["author"]["username"] == "Grimble"
    assert instant_llm.requests[-1].messages[0].content.startswith("You are Grimble")


# -- slash commands ------------------------------------------------------------------------------


async def test_character_set_binds_the_channel_so_every_message_there_is_answered(
    bot: DiscordAdapter, world: World
) -> None:
    interaction = await world.fake.slash(
        world.general, world.alice, "character", {"args": "grimble"}, permissions=MANAGE_GUILD
    )
    response = await command_reply(world, interaction)
    assert "Forge is hot" in response["data"]["content"]  # Grimble's greeting
    await world.fake.say(world.general, world.bob, "no mention needed")
    [answer] = await settled(world, world.general, ["You said: no mention needed"])
    assert answer["author"]["username"] == "Grimble"


async def test_character_set_without_manage_server_is_refused_privately(
    bot: DiscordAdapter, world: World
) -> None:
    interaction = await world.fake.slash(world.general, world.alice, "character", {"args": "grimble"})
    response = await command_reply(world, interaction)
    assert response["data"]["flags"] & EPHEMERAL
    assert "Only this chat's admins" in response["data"]["content"]


async def test_a_thread_answers_with_the_character_bound_to_its_channel(
    bot: DiscordAdapter, world: World
) -> None:
    interaction = await world.fake.slash(
        world.general, world.alice, "character", {"args": "grimble"}, permissions=MANAGE_GUILD
    )
    await command_reply(world, interaction)
    await world.fake.say(world.thread, world.bob, "in the thread")
    [answer] = await replies(world, world.thread)
    assert answer["author"]["username"] == "Grimble"
    assert world.fake.calls_to("POST", r"/webhooks/\d+/[^/]+")[-1].query["thread_id"] == world.thread


async def test_character_set_names_the_known_characters_when_the_name_is_unknown(
    bot: DiscordAdapter, world: World
) -> None:
    interaction = await world.fake.slash(world.alice_dm, world.alice, "character", {"args": "nobody"})
    response = await command_reply(world, interaction)
    assert response["data"]["flags"] & EPHEMERAL
    assert "aiko" in response["data"]["content"] and "grimble" in response["data"]["content"]


async def test_character_list_shows_every_card(bot: DiscordAdapter, world: World, runtime: Runtime) -> None:
    interaction = await world.fake.slash(world.alice_dm, world.alice, "character")
    message = (await command_reply(world, interaction))["data"]
    labels = [b["label"].removeprefix("✓ ") for row in message["components"] for b in row["components"]]
    assert sorted(labels) == sorted(card.name for card in runtime.characters.cards.values())


async def test_reset_starts_a_fresh_history_with_the_character(
    bot: DiscordAdapter, world: World, instant_llm: InstantLLM
) -> None:
    await world.fake.say(world.alice_dm, world.alice, "remember the cat")
    await replies(world, world.alice_dm)
    response = await command_reply(world, await world.fake.slash(world.alice_dm, world.alice, "reset"))
    assert response["data"]["content"].startswith("Aiko starts afresh")
    await world.fake.say(world.alice_dm, world.alice, "what cat?")
    await replies(world, world.alice_dm, 2)
    assert not any("remember the cat" in m.content for m in instant_llm.requests[-1].messages)


async def test_memory_privately_counts_what_is_stored(
    bot: DiscordAdapter, world: World, runtime: Runtime
) -> None:
    await world.fake.say(world.alice_dm, world.alice, "I like tea")
    await settled(world, world.alice_dm, ["You said: I like tea"])
    await runtime.pipeline.turns.idle()  # the reply is stored while it shows: read after
    response = await command_reply(world, await world.fake.slash(world.alice_dm, world.alice, "memory"))
    assert response["data"]["flags"] & EPHEMERAL
    assert "2 messages stored" in response["data"]["content"]


async def test_forget_asks_first_then_deletes_every_row_about_the_user(
    bot: DiscordAdapter, world: World, runtime: Runtime
) -> None:
    await world.fake.say(world.alice_dm, world.alice, "my secret")
    await settled(world, world.alice_dm, ["You said: my secret"])
    await runtime.pipeline.turns.idle()  # the reply is stored while it shows: read after
    await command_reply(world, await world.fake.slash(world.alice_dm, world.alice, "persona", {"args": "x"}))
    asked = await world.fake.slash(world.alice_dm, world.alice, "forget")
    question = await command_reply(world, asked)
    assert question["data"]["flags"] & EPHEMERAL
    assert count_rows(runtime, "SELECT count(*) FROM messages") == 2  # nothing deleted before the button

    pressed = await world.fake.press(asked, "Yes, delete everything", world.alice)
    done = await command_reply(world, pressed)
    assert done["data"]["flags"] & EPHEMERAL and "2 messages" in done["data"]["content"]
    assert count_rows(runtime, "SELECT count(*) FROM messages") == 0
    assert (
        count_rows(runtime, "SELECT count(*) FROM users WHERE platform_user_id = ?", world.alice["id"]) == 0
    )
    assert count_rows(runtime, "SELECT count(*) FROM preferences WHERE user_id = ?", world.alice["id"]) == 0


async def test_forget_cancelled_deletes_nothing(bot: DiscordAdapter, world: World, runtime: Runtime) -> None:
    await world.fake.say(world.alice_dm, world.alice, "keep this")
    await settled(world, world.alice_dm, ["You said: keep this"])
    await runtime.pipeline.turns.idle()  # the reply is stored while it shows: read after
    asked = await world.fake.slash(world.alice_dm, world.alice, "forget")
    await command_reply(world, asked)
    await command_reply(world, await world.fake.press(asked, "Cancel", world.alice))
    assert count_rows(runtime, "SELECT count(*) FROM messages") == 2


async def test_someone_else_pressing_the_button_is_told_so_and_nothing_is_deleted(
    bot: DiscordAdapter, world: World, runtime: Runtime
) -> None:
    await world.fake.say(world.alice_dm, world.alice, "keep this")
    await settled(world, world.alice_dm, ["You said: keep this"])
    await runtime.pipeline.turns.idle()  # the reply is stored while it shows: read after
    asked = await world.fake.slash(world.alice_dm, world.alice, "forget")
    await command_reply(world, asked)
    refused = await command_reply(world, await world.fake.press(asked, "Yes, delete everything", world.bob))
    assert refused["data"]["flags"] & EPHEMERAL and refused["data"]["content"] == NOT_YOURS
    assert count_rows(runtime, "SELECT count(*) FROM messages") == 2


async def test_voice_on_is_remembered_for_the_person_in_the_channel(
    bot: DiscordAdapter, world: World, runtime: Runtime
) -> None:
    await command_reply(world, await world.fake.slash(world.alice_dm, world.alice, "voice", {"args": "on"}))
    stored = await runtime.memory.get_preference("discord", world.alice_dm, "voice", world.alice["id"])
    assert stored is True


async def test_persona_is_told_to_the_character_and_names_the_user(
    bot: DiscordAdapter, world: World, instant_llm: InstantLLM
) -> None:
    options = {"args": "Captain: a retired sea captain"}
    await command_reply(world, await world.fake.slash(world.alice_dm, world.alice, "persona", options))
    await world.fake.say(world.alice_dm, world.alice, "ahoy")
    await replies(world, world.alice_dm)
    system = instant_llm.requests[-1].messages[0].content
    assert "About Captain: a retired sea captain" in system
    assert "talking with Captain" in system


# -- personas ------------------------------------------------------------------------------------


async def test_another_character_speaks_through_a_webhook_with_its_name_and_avatar(
    runtime: Runtime, world: World
) -> None:
    adapter = await start_bot(runtime, world.fake, avatars={"grimble": "https://example.org/grimble.png"})
    try:
        await world.fake.say(world.general, world.alice, "Grimble, hello", mention_bot=True)
        [answer] = await replies(world, world.general)
        assert answer["webhook_id"] and answer["author"]["username"] == "Grimble"
        assert answer["_avatar_url"] == "https://example.org/grimble.png"
    finally:
        await adapter.stop()


async def test_a_reply_to_a_webhook_persona_is_answered_by_that_character(
    bot: DiscordAdapter, world: World
) -> None:
    await world.fake.say(world.general, world.alice, "Grimble, hello", mention_bot=True)
    [persona_message] = await replies(world, world.general)
    await world.fake.say(world.general, world.alice, "and you?", reply_to=persona_message["id"])
    second = (await settled(world, world.general, ["You said: Grimble, hello", "You said: and you?"]))[1]
    assert second["author"]["username"] == "Grimble"


async def test_without_manage_webhooks_the_character_speaks_as_the_bot_in_bold(
    bot: DiscordAdapter, world: World
) -> None:
    await world.fake.say(world.quiet, world.alice, "Grimble, hello", mention_bot=True)
    [answer] = await replies(world, world.quiet)
    assert answer["author"]["id"] == world.fake.bot["id"]
    assert answer["content"] == "**Grimble**: You said: Grimble, hello"
    assert not world.fake.calls_to("GET", r"/channels/\d+/webhooks")


async def test_a_webhook_deleted_meanwhile_hands_the_reply_to_the_bot_and_the_next_makes_a_new_one(
    bot: DiscordAdapter, world: World
) -> None:
    await world.fake.say(world.general, world.alice, "Grimble, hello", mention_bot=True)
    [first] = await replies(world, world.general)
    del world.fake.webhooks[first["webhook_id"]]  # an admin deleted it
    await world.fake.say(world.general, world.alice, "Grimble, again", mention_bot=True)
    second = (await replies(world, world.general, 2))[1]
    assert second["author"]["id"] == world.fake.bot["id"]
    assert second["content"] == "**Grimble**: You said: Grimble, again"
    await world.fake.say(world.general, world.alice, "Grimble, once more", mention_bot=True)
    third = (await replies(world, world.general, 3))[2]
    assert third["webhook_id"] not in (None, first["webhook_id"])
    assert third["author"]["username"] == "Grimble"


async def test_a_channel_to_write_first_in_is_reached_by_its_id_and_none_for_no_discord_id(
    bot: DiscordAdapter, world: World
) -> None:
    dm = await bot.open_chat(world.alice_dm, world.alice["id"], "Alice", "aiko")
    assert dm is not None and dm.kind == "private" and dm.user_id == world.alice["id"]
    asked = len(world.fake.calls)
    assert await bot.open_chat("general", world.alice["id"], "Alice", "aiko") is None
    assert await bot.open_chat(world.general, "alice", "Alice", "aiko") is None
    assert len(world.fake.calls) == asked  # Discord was not asked


# -- delivery ------------------------------------------------------------------------------------


async def test_a_4500_character_reply_arrives_as_three_messages(
    bot: DiscordAdapter, world: World, instant_llm: InstantLLM
) -> None:
    long_reply = " ".join(f"word{i:04d}" for i in range(500))  # 4,499 characters
    instant_llm.reply = lambda request: long_reply
    await world.fake.say(world.alice_dm, world.alice, "tell me everything")
    await world.fake.wait_until(
        lambda: " ".join(m["content"] for m in world.fake.bot_messages(world.alice_dm)) == long_reply
    )
    answers = world.fake.bot_messages(world.alice_dm)
    assert len(answers) == 3
    assert all(len(a["content"]) <= 2000 for a in answers)


async def test_every_message_sent_allows_no_mentions(
    bot: DiscordAdapter, world: World, instant_llm: InstantLLM
) -> None:
    instant_llm.reply = lambda request: "@everyone @here <@&1> <@1> hi"
    await world.fake.say(world.general, world.alice, "mention", mention_bot=True)
    await world.fake.say(world.general, world.alice, "Grimble, webhook", mention_bot=True)
    await world.fake.say(world.quiet, world.alice, "Grimble, bold", mention_bot=True)
    await world.fake.say(world.alice_dm, world.alice, "dm")
    await replies(world, world.general, 2)
    await replies(world, world.quiet)
    await replies(world, world.alice_dm)
    await command_reply(world, await world.fake.slash(world.alice_dm, world.alice, "memory"))

    bodies = world.fake.sent_bodies()
    assert len(bodies) >= 5
    for body in bodies:
        allowed = body.get("allowed_mentions") or body.get("data", {}).get("allowed_mentions")
        assert allowed == {"parse": []}, body


async def test_streaming_edits_are_spaced_by_the_interval_and_end_with_the_final_text(
    runtime: Runtime, world: World, instant_llm: InstantLLM
) -> None:
    instant_llm.reply = lambda request: " ".join(f"w{i}" for i in range(12))
    instant_llm.delay_s = 0.1  # 1.2 s of generation: several updates whatever the pipeline batches
    adapter = await start_bot(runtime, world.fake, edit_interval_s=0.2)
    try:
        await world.fake.say(world.alice_dm, world.alice, "stream please")
        [answer] = await replies(world, world.alice_dm)
        await world.fake.wait_until(lambda: answer["content"].endswith("w11"))
        edits = world.fake.edits.get(answer["id"], [])
        created = world.fake.calls_to("POST", rf"/channels/{world.alice_dm}/messages")[0].at
        times = [created, *edits]
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert edits and min(gaps) >= 0.19, gaps
    finally:
        await adapter.stop()


async def test_a_slow_reply_shows_the_typing_indicator(
    bot: DiscordAdapter, world: World, instant_llm: InstantLLM
) -> None:
    instant_llm.delay_s = 0.5
    instant_llm.reply = lambda request: "slow answer"
    await world.fake.say(world.alice_dm, world.alice, "take your time")
    await world.fake.wait_until(lambda: world.fake.calls_to("POST", rf"/channels/{world.alice_dm}/typing"))
    [answer] = await replies(world, world.alice_dm)
    await world.fake.wait_until(lambda: answer["content"] == "slow answer")


async def test_a_reply_in_a_thread_stays_in_the_thread(bot: DiscordAdapter, world: World) -> None:
    await world.fake.say(world.thread, world.alice, "in a thread", mention_bot=True)
    await settled(world, world.thread, ["You said: in a thread"])


# -- faults and load -----------------------------------------------------------------------------


async def test_a_429_on_sending_is_waited_out_and_the_reply_delivered(
    bot: DiscordAdapter, world: World
) -> None:
    world.fake.fail_next(
        "POST", rf"/channels/{world.alice_dm}/messages", status=429, times=2, retry_after=0.05
    )
    await world.fake.say(world.alice_dm, world.alice, "despite limits")
    await settled(world, world.alice_dm, ["You said: despite limits"])
    assert [c.status for c in world.fake.calls_to("POST", rf"/channels/{world.alice_dm}/messages")] == [
        429,
        429,
        200,
    ]


async def test_a_failing_handler_is_logged_and_the_bot_keeps_answering(
    bot: DiscordAdapter, world: World, instant_llm: InstantLLM, caplog: pytest.LogCaptureFixture
) -> None:
    def explode_once(request: GenerationRequest) -> str:
        instant_llm.reply = lambda request: "fine again"
        raise RuntimeError("a bug in a handler")

    instant_llm.reply = explode_once
    with caplog.at_level(logging.ERROR, logger="anima.bots.discord.adapter"):
        await world.fake.say(world.alice_dm, world.alice, "break")
        [apology] = await replies(world, world.alice_dm)
    assert "went wrong" in apology["content"]
    assert any("a bug in a handler" in r.exc_text for r in caplog.records if r.exc_text)
    await world.fake.say(world.alice_dm, world.alice, "again")
    await settled(world, world.alice_dm, [apology["content"], "fine again"])


async def test_a_dropped_gateway_connection_resumes_and_delivers_what_was_missed(
    bot: DiscordAdapter, world: World
) -> None:
    await world.fake.drop_gateway()
    await world.fake.say(world.alice_dm, world.alice, "while you were away")
    await settled(world, world.alice_dm, ["You said: while you were away"])
    assert world.fake.resumes and len(world.fake.identifies) == 1


async def test_stop_lets_a_reply_in_flight_finish(
    runtime: Runtime, world: World, instant_llm: InstantLLM
) -> None:
    instant_llm.delay_s = 0.1
    instant_llm.reply = lambda request: "almost done"
    adapter = await start_bot(runtime, world.fake, edit_interval_s=0.2)
    await world.fake.say(world.alice_dm, world.alice, "quick")
    await world.fake.wait_until(lambda: instant_llm.requests)
    await adapter.stop()
    assert [m["content"] for m in world.fake.bot_messages(world.alice_dm)] == ["almost done"]


async def test_fifty_users_five_messages_each_at_once_all_answered_in_order(
    bot: DiscordAdapter, world: World, runtime: Runtime
) -> None:
    runtime.pipeline.admission.total = 250  # all of them wait at once: over the default bound (200)
    users = [world.fake.user(f"user{i}") for i in range(50)]
    channels = [world.fake.dm_channel(user) for user in users]
    sent: dict[str, list[str]] = {channel: [] for channel in channels}
    for turn in range(5):
        for user, channel in zip(users, channels, strict=True):
            message = await world.fake.say(channel, user, f"{user['username']} message {turn}")
            sent[channel].append(message["id"])
    expected = {
        channel: [f"You said: {user['username']} message {turn}" for turn in range(5)]
        for user, channel in zip(users, channels, strict=True)
    }

    def contents(channel: str) -> list[str]:
        return [m["content"] for m in world.fake.bot_messages(channel)]

    try:
        await world.fake.wait_until(lambda: all(contents(c) == expected[c] for c in channels), within_s=60)
    except TimeoutError:
        wrong = {c: contents(c) for c in channels if contents(c) != expected[c]}
        raise AssertionError(
            f"{len(wrong)} chats read otherwise, e.g. {next(iter(wrong.values()))}"
        ) from None
    for channel in channels:
        answers = world.fake.bot_messages(channel)
        assert [a["message_reference"]["message_id"] for a in answers] == sent[channel]
