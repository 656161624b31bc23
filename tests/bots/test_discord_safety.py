"""/safety on Discord: a server's admins (Manage Server) make the characters stricter in that server only."""

from __future__ import annotations

from typing import Any

from anima.bots.discord import DiscordAdapter
from anima.characters.macros import expand
from anima.safety.checks.harm import DEFAULT_REFUSAL
from tests.bots.test_discord import EPHEMERAL, World, command_reply, settled
from tests.fakes.discord_server import MANAGE_GUILD

ASK = "who won the football?"


def refusal(user: str) -> str:
    return expand(DEFAULT_REFUSAL, {"char": "Aiko", "user": user})


async def safety(
    world: World, command: str, options: dict[str, Any] | None = None, *, admin: bool = True
) -> dict[str, Any]:
    """Alice runs `/safety <command>` in #general (with Manage Server when `admin`); its answer."""
    permissions = {"permissions": MANAGE_GUILD} if admin else {}
    words = " ".join([command, *(options or {}).values()])
    interaction = await world.fake.slash(world.general, world.alice, "safety", {"args": words}, **permissions)
    return (await command_reply(world, interaction))["data"]


async def test_safety_takes_its_words_as_one_option(bot: DiscordAdapter, world: World) -> None:
    command = next(c for c in world.fake.commands if c["name"] == "safety")
    assert [o["name"] for o in command["options"]] == ["args"]


async def test_an_admins_blocked_topic_is_declined_in_every_channel_of_the_server(
    bot: DiscordAdapter, world: World
) -> None:
    await safety(world, "rating", {"rating": "teen"})
    assert "blocked here now" in (await safety(world, "block", {"topic": "football"}))["content"]
    lounge = world.fake.add_channel(world.guild, "lounge")
    await world.fake.say(lounge, world.bob, ASK, mention_bot=True)
    await settled(world, lounge, [refusal("Bob")])


async def test_another_server_is_unaffected_by_an_override(bot: DiscordAdapter, world: World) -> None:
    await safety(world, "block", {"topic": "football"})
    await world.fake.say(world.quiet, world.bob, ASK, mention_bot=True)
    await settled(world, world.quiet, [f"You said: {ASK}"])


async def test_without_manage_server_a_change_is_refused_privately_and_nothing_changes(
    bot: DiscordAdapter, world: World
) -> None:
    answer = await safety(world, "block", {"topic": "football"}, admin=False)
    assert answer["flags"] & EPHEMERAL
    assert "administrators" in answer["content"]
    await world.fake.say(world.general, world.bob, ASK, mention_bot=True)
    await settled(world, world.general, [f"You said: {ASK}"])


async def test_reset_restores_the_cards_own_settings(bot: DiscordAdapter, world: World) -> None:
    await safety(world, "block", {"topic": "football"})
    await safety(world, "reset")
    await world.fake.say(world.general, world.bob, ASK, mention_bot=True)
    await settled(world, world.general, [f"You said: {ASK}"])


async def test_show_privately_lists_the_effective_settings_and_the_override(
    bot: DiscordAdapter, world: World
) -> None:
    await safety(world, "block", {"topic": "football"})
    shown = await safety(world, "show", admin=False)
    assert shown["flags"] & EPHEMERAL
    assert "Safety for Aiko in this server: rating general; blocked topics: football." in shown["content"]


async def test_a_rating_looser_than_the_cards_is_explained(bot: DiscordAdapter, world: World) -> None:
    note = (await safety(world, "rating", {"rating": "teen"}))["content"]  # Aiko's card says general
    assert "would loosen Aiko" in note


async def test_in_a_direct_message_the_person_sets_their_own_override(
    bot: DiscordAdapter, world: World
) -> None:
    interaction = await world.fake.slash(world.alice_dm, world.alice, "safety", {"args": "block football"})
    answer = (await command_reply(world, interaction))["data"]
    assert answer["flags"] & EPHEMERAL and "blocked here now" in answer["content"]
