"""Character cards sent to the Telegram bot: an admin's card file is installed, anyone else's is not."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from anima.app import Runtime
from anima.bots.telegram import TelegramAdapter
from anima.characters.card import CharacterCard
from anima.characters.exporter import export_card
from anima.characters.install import MAX_INSTALL_BYTES
from anima.characters.library import load_card_bytes
from anima.config import Settings, TelegramBotSettings
from tests.bots.test_telegram import ALICE, BOB, bot_settings, say
from tests.conftest import REPO
from tests.fakes.telegram_server import FakeBot, FakeTelegram, private_chat

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
async def adapter(runtime: Runtime, tg: FakeTelegram, fake: FakeBot) -> AsyncIterator[TelegramAdapter]:
    """Alice is the bot's admin; Bob is not."""
    bot = TelegramAdapter(runtime, bot_settings(tg, fake, admins=[str(ALICE["id"])]), 0)
    await bot.start()
    yield bot
    await bot.stop()


@pytest.fixture
def mira(tmp_path: Path) -> CharacterCard:
    return load_card_bytes(MIRA.encode(), tmp_path / "mira.yaml")


def card_files(runtime: Runtime) -> list[str]:
    return sorted(p.name for p in runtime.characters.directory.iterdir())


async def send_file(fake: FakeBot, sender: dict[str, object], data: bytes, name: str) -> str:
    """`sender` sends a file in their private chat with the bot; the bot's answer."""
    chat = private_chat(sender)
    before = len(fake.replies(chat["id"]))
    fake.send_document(chat, sender, data, name)
    return (await fake.wait_for_replies(chat["id"], before + 1))[before].text


async def test_an_admin_installs_a_png_card_and_the_next_message_can_choose_it(
    adapter: TelegramAdapter, fake: FakeBot, runtime: Runtime, mira: CharacterCard, tmp_path: Path
) -> None:
    answer = await send_file(fake, ALICE, export_card(mira, "png", tmp_path), "mira.png")
    assert "Installed Mira (id mira)" in answer
    assert {"mira.png", "mira.yaml"} <= set(card_files(runtime))
    greeting = await say(fake, private_chat(ALICE), ALICE, "/character mira")
    assert greeting == "*looks up from a map* Oh, hello Alice."


async def test_an_admin_installs_a_v2_json_card(
    adapter: TelegramAdapter, fake: FakeBot, runtime: Runtime, mira: CharacterCard, tmp_path: Path
) -> None:
    answer = await send_file(fake, ALICE, export_card(mira, "v2", tmp_path), "Mira.json")
    assert "Installed Mira (id mira)" in answer
    assert runtime.characters.get("mira").name == "Mira"


async def test_a_non_admin_is_refused_and_nothing_is_written(
    adapter: TelegramAdapter, fake: FakeBot, runtime: Runtime, mira: CharacterCard, tmp_path: Path
) -> None:
    before = card_files(runtime)
    answer = await send_file(fake, BOB, export_card(mira, "png", tmp_path), "mira.png")
    assert "Only this bot's admins can install characters" in answer
    assert card_files(runtime) == before
    assert fake.downloads == []


async def test_a_broken_card_gets_its_problems_by_line_and_nothing_is_written(
    adapter: TelegramAdapter, fake: FakeBot, runtime: Runtime
) -> None:
    before = card_files(runtime)
    answer = await send_file(fake, ALICE, b"name: Tom\ndescription: d\ngreeting: 5\n", "tom.yaml")
    assert "tom.yaml was not installed" in answer
    assert "tom.yaml:3: greeting: expected text or a list of texts, got a number" in answer
    assert card_files(runtime) == before


async def test_a_file_over_the_size_limit_is_refused_before_it_is_downloaded(
    adapter: TelegramAdapter, fake: FakeBot, runtime: Runtime
) -> None:
    before = card_files(runtime)
    answer = await send_file(fake, ALICE, b" " * (MAX_INSTALL_BYTES + 1), "huge.json")
    assert f"at most {MAX_INSTALL_BYTES:,}" in answer
    assert fake.calls_to("getFile") == [] and fake.downloads == []
    assert card_files(runtime) == before


async def test_a_file_that_is_not_a_card_gets_the_only_text_note(
    adapter: TelegramAdapter, fake: FakeBot, runtime: Runtime
) -> None:
    answer = await send_file(fake, ALICE, b"%PDF-1.7", "menu.pdf")
    assert answer == "Sorry, I can only read text for now."
    assert fake.downloads == []


def test_admins_may_be_written_as_numbers_in_the_config() -> None:
    settings = TelegramBotSettings.model_validate({"token": "1:x", "admins": [101, "102"]})
    assert settings.admins == ["101", "102"]


async def test_a_cards_llm_settings_are_held_to_the_config_and_the_admin_is_told(
    adapter: TelegramAdapter, fake: FakeBot, runtime: Runtime
) -> None:
    text = MIRA + "llm:\n  backend: somewhere-expensive\n  max_tokens: 8192\n"
    answer = await send_file(fake, ALICE, text.encode(), "mira.yaml")
    assert "Installed Mira (id mira)" in answer
    assert "llm.backend: 'somewhere-expensive' is not defined in llm.backends here; dropped" in answer
    assert "llm.max_tokens: 8,192 lowered to" in answer
    installed = runtime.characters.get("mira").llm
    assert installed.backend is None and installed.max_tokens is not None and installed.max_tokens < 8192
