"""Pictures on Telegram, through the unmodified PTB client against the fake Bot API: a photo (its
largest size) and an image sent as a file reach a vision backend as image parts, and /selfie comes
back as a photo (sendPhoto)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from anima.app import Runtime
from anima.bots.telegram import TelegramAdapter
from anima.config import OpenAIBackend
from anima.llm.openai_backend import OpenAILLM
from tests.bots.test_telegram import ALICE
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.telegram_server import FakeBot, private_chat
from tests.seeing.pictures import photo
from tests.seeing.test_seeing import caption_of, image_parts

CHAT = private_chat(ALICE)


async def answered(fake: FakeBot) -> None:
    """Until the bot's first reply (the first turn also waits for the safety models to load)."""
    await fake.wait_for(lambda: len(fake.replies(CHAT["id"])) >= 1, within_s=40)


@pytest.fixture
async def server(runtime: Runtime, tmp_path: Path) -> AsyncIterator[FakeOpenAI]:
    """A fake vision server answering as the runtime's default backend, and making pictures."""
    fake = FakeOpenAI(reply="A red and blue picture, how bold!")
    await fake.start()
    backend = OpenAIBackend(kind="openai", base_url=fake.base_url, model="vision-model", vision=True)
    runtime.settings.llm.backends["vision"] = backend
    runtime.settings.images.backend = "vision"
    runtime.selfies.cache_dir = tmp_path / "images"
    runtime.router.register("embedded", OpenAILLM("embedded", backend))
    yield fake
    await fake.stop()


async def test_a_photo_with_a_caption_reaches_the_vision_backend_as_an_image(
    adapter: TelegramAdapter, fake: FakeBot, server: FakeOpenAI
) -> None:
    fake.send_photo(CHAT, ALICE, photo(2560, 1920), 2560, 1920, caption="What do you see?")
    await answered(fake)
    assert [m.text for m in fake.replies(CHAT["id"])] == ["A red and blue picture, how bold!"]
    (seen,) = image_parts(server.requests[-1])
    assert max(seen.size) == 1024  # the largest size was fetched, not the 90 px one
    assert caption_of(server.requests[-1]) == "What do you see?"


async def test_an_image_sent_as_a_file_is_seen_too(
    adapter: TelegramAdapter, fake: FakeBot, server: FakeOpenAI
) -> None:
    fake.send_document(CHAT, ALICE, photo(800, 600), "cat.jpg", "image/jpeg")
    await answered(fake)
    assert len(image_parts(server.requests[-1])) == 1


async def test_a_broken_photo_gets_one_clear_line(
    adapter: TelegramAdapter, fake: FakeBot, server: FakeOpenAI
) -> None:
    fake.send_photo(CHAT, ALICE, b"not a jpeg at all", 1000, 800)
    await answered(fake)
    (line,) = [m.text for m in fake.replies(CHAT["id"])]
    assert line.startswith("🖼 Aiko couldn't look at your picture: that file is not a picture")
    assert server.requests == []


async def test_selfie_comes_back_as_a_photo(
    adapter: TelegramAdapter, fake: FakeBot, server: FakeOpenAI
) -> None:
    fake.send_text(CHAT, ALICE, "/selfie at the beach")
    await fake.wait_for(lambda: any(m.kind == "photo" for m in fake.replies(CHAT["id"])), within_s=40)
    (sent,) = [m for m in fake.replies(CHAT["id"]) if m.kind == "photo"]
    assert sent.photo is not None and Image.open(io.BytesIO(sent.photo)).format == "PNG"
    assert "at the beach" in sent.text
    assert "round glasses" in server.image_requests[0]["prompt"]
