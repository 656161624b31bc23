"""Pictures on Discord, through the unmodified discord.py client against the fake gateway and API: an
image attachment (with words, or alone) reaches a vision backend as an image part and is answered,
and /selfie comes back as an attachment."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from anima.app import Runtime
from anima.bots.discord import DiscordAdapter
from anima.config import OpenAIBackend
from anima.llm.openai_backend import OpenAILLM
from tests.bots.test_discord import World, replies
from tests.fakes.openai_server import FakeOpenAI
from tests.seeing.pictures import photo
from tests.seeing.test_seeing import caption_of, image_parts

REPLY = "A red and blue picture, how bold!"


@pytest.fixture
async def server(runtime: Runtime, tmp_path: Path) -> AsyncIterator[FakeOpenAI]:
    """A fake vision server answering as the runtime's default backend, and making pictures."""
    fake = FakeOpenAI(reply=REPLY)
    await fake.start()
    backend = OpenAIBackend(kind="openai", base_url=fake.base_url, model="vision-model", vision=True)
    runtime.settings.llm.backends["vision"] = backend
    runtime.settings.images.backend = "vision"
    runtime.selfies.cache_dir = tmp_path / "images"
    runtime.router.register("embedded", OpenAILLM("embedded", backend))
    yield fake
    await fake.stop()


async def test_an_image_with_words_reaches_the_vision_backend_as_an_image(
    bot: DiscordAdapter, world: World, server: FakeOpenAI
) -> None:
    await world.fake.say(
        world.alice_dm, world.alice, "What do you see?", files=[("cat.jpg", photo(2000, 1500))]
    )
    await replies(world, world.alice_dm)
    await world.fake.wait_until(lambda: world.fake.bot_messages(world.alice_dm)[0]["content"] == REPLY, 40)
    (seen,) = image_parts(server.requests[-1])
    assert max(seen.size) == 1024 and caption_of(server.requests[-1]) == "What do you see?"


async def test_an_image_only_message_is_answered(
    bot: DiscordAdapter, world: World, server: FakeOpenAI
) -> None:
    await world.fake.say(
        world.general, world.alice, "", mention_bot=True, files=[("cat.png", photo(800, 600))]
    )
    await world.fake.wait_until(
        lambda: [m["content"] for m in world.fake.bot_messages(world.general)] == [REPLY], 40
    )
    assert len(image_parts(server.requests[-1])) == 1


async def test_an_image_alone_in_a_dm_is_answered(
    bot: DiscordAdapter, world: World, server: FakeOpenAI
) -> None:
    await world.fake.say(world.alice_dm, world.alice, "", files=[("cat.jpg", photo(800, 600))])
    await world.fake.wait_until(
        lambda: [m["content"] for m in world.fake.bot_messages(world.alice_dm)] == [REPLY], 40
    )
    assert len(image_parts(server.requests[-1])) == 1


async def test_selfie_comes_back_as_an_attachment(
    bot: DiscordAdapter, world: World, server: FakeOpenAI
) -> None:
    await world.fake.slash(world.alice_dm, world.alice, "selfie", {"args": "at the beach"})

    def pictures() -> list[bytes]:
        return [f.data for c in world.fake.calls for f in c.files if f.filename.endswith(".png")]

    (data,) = await world.fake.wait_until(pictures, 40)
    assert Image.open(io.BytesIO(data)).format == "PNG"
    assert "at the beach" in server.image_requests[0]["prompt"]
