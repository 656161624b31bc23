"""/soul on Discord: a bot admin reviews a character's growth, privately; nobody else can."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from anima.app import Runtime
from anima.bots.discord import DiscordAdapter
from anima.soul import Source
from anima.soul.changes import Change
from tests.bots.test_discord import World, command_reply, open_world, start_bot

FESTIVAL = Change("backstory", "sang at the autumn festival", (1,), 0.9)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with open_world() as opened:
        yield opened


@pytest.fixture
async def bot(runtime: Runtime, world: World) -> AsyncIterator[DiscordAdapter]:
    """Aiko's bot with Alice as its admin, and one pending change (#1)."""
    await runtime.soul.propose("aiko", FESTIVAL, Source("discord", "7", "Bob"))
    adapter = await start_bot(runtime, world.fake, admins=[str(world.alice["id"])])
    yield adapter
    await adapter.stop()


async def soul(world: World, who: dict, **options: str) -> dict:  # type: ignore[type-arg]
    words = " ".join(options.values())
    interaction = await world.fake.slash(world.general, who, "soul", {"args": words} if words else None)
    return (await command_reply(world, interaction))["data"]


async def test_an_admin_sees_the_pending_change_only_they_can_read(world: World, bot: DiscordAdapter) -> None:
    answer = await soul(world, world.alice, action="diff")
    assert "#1 + backstory: sang at the autumn festival" in answer["content"]
    assert answer["flags"] & 64  # ephemeral


async def test_an_admin_approves_and_the_history_names_them(
    world: World, bot: DiscordAdapter, runtime: Runtime
) -> None:
    assert "soul version 1" in (await soul(world, world.alice, action="approve", target="1"))["content"]
    [version] = await runtime.soul.history("aiko")
    assert version.approved_by == f"discord:{world.alice['id']}"


async def test_someone_who_is_not_an_admin_is_refused(
    world: World, bot: DiscordAdapter, runtime: Runtime
) -> None:
    assert "Only this bot's admins" in (await soul(world, world.bob, action="approve", target="1"))["content"]
    assert await runtime.soul.version("aiko") == 0
