"""Character cards sent to the Discord bot: an admin's card file in a DM is installed, no one else's."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from anima.app import Runtime
from anima.bots.discord import DiscordAdapter
from anima.characters.card import CharacterCard
from anima.characters.exporter import export_card
from anima.characters.install import MAX_INSTALL_BYTES
from anima.characters.library import load_card_bytes
from anima.config import DiscordBotSettings, Settings
from tests.bots.test_discord import World, replies, settled, start_bot
from tests.conftest import REPO
from tests.fakes.llm import InstantLLM

MIRA = """\
name: Mira
description: "{{char}} is a cartographer who maps the Salt Coast."
greeting: "*looks up from a map* Oh, hello {{user}}."
"""


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The repo's cards, copied: installing writes into the characters directory."""
    shutil.copytree(REPO / "characters", tmp_path / "characters")
    settings.characters_dir = tmp_path / "characters"
    return settings


@pytest.fixture
async def bot(runtime: Runtime, world: World) -> AsyncIterator[DiscordAdapter]:
    """Alice is the bot's admin; Bob is not."""
    adapter = await start_bot(runtime, world.fake, admins=[world.alice["id"]])
    yield adapter
    await adapter.stop()


@pytest.fixture
def mira(tmp_path: Path) -> CharacterCard:
    return load_card_bytes(MIRA.encode(), tmp_path / "mira.yaml")


def card_files(runtime: Runtime) -> list[str]:
    return sorted(p.name for p in runtime.characters.directory.iterdir())


async def send_file(world: World, sender: dict[str, Any], data: bytes, name: str) -> str:
    """`sender` sends a file, without a word, in their DM with the bot; the bot's answer."""
    channel = world.alice_dm if sender is world.alice else world.fake.dm_channel(sender)
    await world.fake.say(channel, sender, "", files=[(name, data)])
    [answer] = await replies(world, channel)
    return str(answer["content"])


async def test_an_admin_installs_a_png_card_and_the_next_message_can_talk_with_it(
    bot: DiscordAdapter,
    world: World,
    runtime: Runtime,
    mira: CharacterCard,
    tmp_path: Path,
    instant_llm: InstantLLM,
) -> None:
    answer = await send_file(world, world.alice, export_card(mira, "png", tmp_path), "mira.png")
    assert "Installed Mira (id mira)" in answer
    assert {"mira.png", "mira.yaml"} <= set(card_files(runtime))
    await world.fake.say(world.alice_dm, world.alice, "Mira, where are you?")
    await settled(world, world.alice_dm, [answer, "**Mira**: You said: Mira, where are you?"])
    assert instant_llm.requests[-1].messages[0].content.startswith("You are Mira")


async def test_an_admin_installs_a_v2_json_card(
    bot: DiscordAdapter, world: World, runtime: Runtime, mira: CharacterCard, tmp_path: Path
) -> None:
    answer = await send_file(world, world.alice, export_card(mira, "v2", tmp_path), "Mira.json")
    assert "Installed Mira (id mira)" in answer
    assert runtime.characters.get("mira").name == "Mira"


async def test_a_non_admin_is_refused_and_nothing_is_downloaded_or_written(
    bot: DiscordAdapter, world: World, runtime: Runtime, mira: CharacterCard, tmp_path: Path
) -> None:
    before = card_files(runtime)
    answer = await send_file(world, world.bob, export_card(mira, "png", tmp_path), "mira.png")
    assert "Only this bot's admins can install characters" in answer
    assert card_files(runtime) == before
    assert world.fake.downloads == []


async def test_a_broken_card_gets_its_problems_by_line_and_nothing_is_written(
    bot: DiscordAdapter, world: World, runtime: Runtime
) -> None:
    before = card_files(runtime)
    answer = await send_file(world, world.alice, b"name: Tom\ndescription: d\ngreeting: 5\n", "tom.yaml")
    assert "tom.yaml was not installed" in answer
    assert "tom.yaml:3: greeting: expected text or a list of texts, got a number" in answer
    assert card_files(runtime) == before


async def test_a_file_over_the_size_limit_is_refused_before_it_is_downloaded(
    bot: DiscordAdapter, world: World, runtime: Runtime
) -> None:
    before = card_files(runtime)
    answer = await send_file(world, world.alice, b" " * (MAX_INSTALL_BYTES + 1), "huge.json")
    assert f"at most {MAX_INSTALL_BYTES:,}" in answer
    assert world.fake.downloads == []
    assert card_files(runtime) == before


async def test_a_file_that_is_not_a_card_is_answered_as_a_message(
    bot: DiscordAdapter, world: World, runtime: Runtime
) -> None:
    before = card_files(runtime)
    await world.fake.say(world.alice_dm, world.alice, "what do you think?", files=[("menu.pdf", b"%PDF-1.7")])
    await settled(world, world.alice_dm, ["You said: what do you think?"])
    assert world.fake.downloads == [] and card_files(runtime) == before


async def test_a_card_file_in_a_server_channel_is_not_installed(
    bot: DiscordAdapter, world: World, runtime: Runtime
) -> None:
    before = card_files(runtime)
    await world.fake.say(
        world.general, world.alice, "look", mention_bot=True, files=[("tom.yaml", MIRA.encode())]
    )
    await settled(world, world.general, ["You said: look"])
    assert world.fake.downloads == [] and card_files(runtime) == before


def test_admins_may_be_written_as_numbers_in_the_config() -> None:
    settings = DiscordBotSettings.model_validate({"token": "x", "admins": [123456789012345678, "42"]})
    assert settings.admins == ["123456789012345678", "42"]
