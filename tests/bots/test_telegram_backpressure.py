"""Backpressure on Telegram: one person flooding a chat waits in a bounded queue, and is told once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from anima.app import Runtime
from anima.bots.telegram import TelegramAdapter
from anima.config import LimitsSettings, MemorySettings, Settings
from anima.core.admission import NOT_READ
from tests.bots.test_telegram import ALICE, replies_texts
from tests.conftest import NO_GATHERING, REPO
from tests.fakes.llm import InstantLLM
from tests.fakes.telegram_server import FakeBot, FakeTelegram, private_chat

PER_CONVERSATION = 3  # waiting behind the one being answered
FLOOD = 30


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        conversation=NO_GATHERING,
        characters_dir=REPO / "characters",
        default_character="aiko",
        memory=MemorySettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/anima.db"),
        limits=LimitsSettings(per_conversation=PER_CONVERSATION),
    )


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    """Long polls end within half a second, so a condition on the bot is looked at again that often."""
    async with FakeTelegram(long_poll_cap_s=0.5) as server:
        yield server


async def test_a_flood_from_one_person_waits_in_a_bounded_queue_and_hears_busy_once(
    adapter: TelegramAdapter, fake: FakeBot, runtime: Runtime, instant_llm: InstantLLM
) -> None:
    instant_llm.gate = asyncio.Event()  # the model is slow: nothing is answered until it opens
    chat = private_chat(ALICE)
    for k in range(FLOOD):
        fake.send_text(chat, ALICE, f"m{k}")
    # Every update of the flood has arrived (each is stored before it is queued, one at a time).
    await fake.wait_for(lambda: runtime.pipeline.admission.refused == FLOOD - PER_CONVERSATION - 1, 20)
    [busy] = await fake.wait_for_replies(ALICE["id"], 1, within_s=20)
    assert NOT_READ in busy.text
    assert len(runtime.pipeline.admission) == PER_CONVERSATION + 1  # answered or waiting, no more
    assert runtime.pipeline.in_flight() <= PER_CONVERSATION + 1  # taking a turn, or waiting for one

    instant_llm.gate.set()
    answered = [f"You said: m{k}" for k in range(PER_CONVERSATION + 1)]

    def texts() -> list[str]:
        return replies_texts(fake, ALICE["id"])

    await fake.wait_for(lambda: [t for t in texts() if t.startswith("You said")] == answered, within_s=20)
    fake.send_text(chat, ALICE, "still there?")
    await fake.wait_for(lambda: texts()[-1:] == ["You said: still there?"], within_s=20)
    assert sorted(texts()) == sorted([busy.text, *answered, "You said: still there?"])  # one busy line
