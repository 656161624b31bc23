"""/soul on Telegram: a bot admin reviews a character's growth in a private chat; nobody else can."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from anima.app import Runtime
from anima.bots.telegram import TelegramAdapter
from anima.soul import Source
from anima.soul.changes import Change
from tests.bots.test_telegram import ALICE, BOB, GROUP, bot_settings, say
from tests.fakes.telegram_server import FakeBot, FakeTelegram, private_chat

FESTIVAL = Change("backstory", "sang at the autumn festival", (1,), 0.9)


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeTelegram, FakeBot]]:
    async with FakeTelegram() as server:
        yield server, server.add_bot("aiko_bot", "Aiko")


@pytest.fixture
async def bot(runtime: Runtime, fake: tuple[FakeTelegram, FakeBot]) -> AsyncIterator[FakeBot]:
    """Aiko's bot, with Alice as its admin, and one pending change (#1)."""
    server, telegram = fake
    adapter = TelegramAdapter(runtime, bot_settings(server, telegram, admins=[str(ALICE["id"])]), 0)
    await runtime.soul.propose("aiko", FESTIVAL, Source("telegram", "102", "Bob"))
    await adapter.start()
    yield telegram
    await adapter.stop()


async def test_an_admin_reads_and_approves_a_pending_change(bot: FakeBot, runtime: Runtime) -> None:
    chat = private_chat(ALICE)
    assert "#1 + backstory: sang at the autumn festival" in await say(bot, chat, ALICE, "/soul diff")
    assert "soul version 1" in await say(bot, chat, ALICE, "/soul approve 1")

    assert "- sang at the autumn festival" in await say(bot, chat, ALICE, "/soul")
    [version] = await runtime.soul.history("aiko")
    assert version.approved_by == f"telegram:{ALICE['id']}"


async def test_an_admin_rolls_back_from_the_chat(bot: FakeBot, runtime: Runtime) -> None:
    chat = private_chat(ALICE)
    await say(bot, chat, ALICE, "/soul approve 1")
    assert "soul version 2" in await say(bot, chat, ALICE, "/soul rollback 0")
    assert "Nothing learned yet" in await say(bot, chat, ALICE, "/soul")


async def test_someone_who_is_not_an_admin_is_refused_and_nothing_changes(
    bot: FakeBot, runtime: Runtime
) -> None:
    assert "Only this bot's admins" in await say(bot, private_chat(BOB), BOB, "/soul approve 1")
    assert [p.id for p in await runtime.soul.proposals("aiko")] == [1]


async def test_an_admin_in_a_group_is_sent_to_a_private_chat(bot: FakeBot) -> None:
    assert "private chat" in await say(bot, GROUP, ALICE, "/soul diff")
