"""Backpressure on Discord: one person flooding a channel waits in a bounded queue, and is told once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from anima.app import Runtime
from anima.bots.discord import DiscordAdapter
from anima.config import LimitsSettings, MemorySettings, Settings
from anima.core.admission import NOT_READ
from tests.bots.test_discord import World, replies
from tests.conftest import NO_GATHERING, REPO
from tests.fakes.llm import InstantLLM

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


def texts(world: World, channel: str) -> list[str]:
    return [m["content"] for m in world.fake.bot_messages(channel)]


async def test_a_flood_from_one_person_waits_in_a_bounded_queue_and_hears_busy_once(
    bot: DiscordAdapter, world: World, runtime: Runtime, instant_llm: InstantLLM
) -> None:
    instant_llm.gate = asyncio.Event()  # the model is slow: nothing is answered until it opens
    for k in range(FLOOD):
        await world.fake.say(world.alice_dm, world.alice, f"m{k}")
    await world.fake.wait_until(lambda: runtime.pipeline.admission.refused == FLOOD - PER_CONVERSATION - 1)
    [busy] = await replies(world, world.alice_dm)
    assert NOT_READ in busy["content"]
    assert len(runtime.pipeline.admission) == PER_CONVERSATION + 1  # answered or waiting, no more
    assert runtime.pipeline.in_flight() <= PER_CONVERSATION + 1

    instant_llm.gate.set()
    answered = [f"You said: m{k}" for k in range(PER_CONVERSATION + 1)]
    await world.fake.wait_until(lambda: [t for t in texts(world, world.alice_dm) if "said" in t] == answered)
    await world.fake.say(world.alice_dm, world.alice, "still there?")
    await world.fake.wait_until(lambda: texts(world, world.alice_dm)[-1:] == ["You said: still there?"])
    assert len(texts(world, world.alice_dm)) == 1 + len(answered) + 1  # one busy line, no more
