"""Fixtures shared by the adapter tests: the fake servers, and each bot with default settings."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from anima.app import Runtime
from anima.bots.discord import DiscordAdapter
from anima.bots.telegram import TelegramAdapter
from tests.bots.test_discord import World, open_world, start_bot
from tests.bots.test_telegram import bot_settings
from tests.fakes.telegram_server import FakeBot, FakeTelegram


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
def fake(tg: FakeTelegram) -> FakeBot:
    return tg.add_bot("aiko_bot", "Aiko")


@pytest.fixture
async def adapter(runtime: Runtime, tg: FakeTelegram, fake: FakeBot) -> AsyncIterator[TelegramAdapter]:
    """The Telegram bot with default settings, except the per-group limit (20/min: one reply per 3 s)."""
    bot = TelegramAdapter(runtime, bot_settings(tg, fake, group_messages_per_minute=0), 0)
    await bot.start()
    yield bot
    await bot.stop()


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with open_world() as opened:
        yield opened


@pytest.fixture
async def bot(runtime: Runtime, world: World) -> AsyncIterator[DiscordAdapter]:
    """The Discord bot with default settings."""
    adapter = await start_bot(runtime, world.fake)
    yield adapter
    await adapter.stop()
