"""Pictures through the conversation service on the neutral fake surface: a vision backend (the real
OpenAI client against the fake server) gets them as image parts, one without vision gets the caption
and a note, an image-only message is answered, and what cannot be used gets one clear line."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from PIL import Image

from anima.app import Runtime
from anima.bots.console import ConsoleChat
from anima.config import LLMSettings, MemorySettings, OpenAIBackend, Settings
from anima.core.messages import Attachment, Incoming
from anima.memory.store import ConversationState
from tests.conftest import NO_GATHERING, REPO
from tests.fakes.llm import InstantLLM
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.surface import FakeSurface
from tests.seeing.pictures import photo, png_claiming

PHOTO = Attachment("photo", url="photo-1", name="photo.jpg", mime_type="image/jpeg")


def sent(surface: FakeSurface, data: bytes, caption: str = "") -> Incoming:
    surface.files[PHOTO.url] = data
    return Incoming(surface.platform, surface.chat_id, surface.user_id, surface.display_name, caption,
                    message_id="m1", attachments=(PHOTO,))  # fmt: skip


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI(reply="What a lovely red and blue picture!")
    await fake.start()
    yield fake
    await fake.stop()


async def started(tmp_path: Path, server: FakeOpenAI, vision: bool) -> Runtime:
    backend = OpenAIBackend(kind="openai", base_url=server.base_url, model="vision-model", vision=vision)
    settings = Settings(
        conversation=NO_GATHERING,
        characters_dir=REPO / "characters",
        default_character="aiko",
        memory=MemorySettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/anima.db"),
        llm=LLMSettings(default="openai", backends={"openai": backend}),
    )
    return await Runtime.start(settings)


@pytest.fixture
async def vision(tmp_path: Path, server: FakeOpenAI) -> AsyncIterator[Runtime]:
    runtime = await started(tmp_path, server, vision=True)
    yield runtime
    await runtime.close()


@pytest.fixture
async def blind(tmp_path: Path, server: FakeOpenAI) -> AsyncIterator[Runtime]:
    runtime = await started(tmp_path, server, vision=False)
    yield runtime
    await runtime.close()


def image_parts(body: dict[str, object]) -> list[Image.Image]:
    """The pictures in the last user message of a chat request, decoded from their data URLs."""
    messages = body["messages"]
    assert isinstance(messages, list)
    user = [m for m in messages if m["role"] == "user"][-1]
    if isinstance(user["content"], str):
        return []
    urls = [p["image_url"]["url"] for p in user["content"] if p["type"] == "image_url"]
    assert all(url.startswith("data:image/jpeg;base64,") for url in urls)
    return [Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) for url in urls]


def caption_of(body: dict[str, object]) -> str:
    messages = body["messages"]
    assert isinstance(messages, list)
    content = [m for m in messages if m["role"] == "user"][-1]["content"]
    return (
        content if isinstance(content, str) else " ".join(p["text"] for p in content if p["type"] == "text")
    )


async def test_a_vision_backend_sees_the_photo_with_its_caption(vision: Runtime, server: FakeOpenAI) -> None:
    surface = FakeSurface()
    reply = await vision.conversations.handle(sent(surface, photo(3000, 2000), "What do you see?"), surface)
    assert reply is not None and reply.text == "What a lovely red and blue picture!"
    (seen,) = image_parts(server.requests[-1])
    assert seen.format == "JPEG" and max(seen.size) == 1024 and not seen.getexif()
    assert caption_of(server.requests[-1]) == "What do you see?"


async def test_a_photo_without_a_caption_is_answered(vision: Runtime, server: FakeOpenAI) -> None:
    surface = FakeSurface()
    reply = await vision.conversations.handle(sent(surface, photo(800, 600)), surface)
    assert reply is not None and surface.texts() == ["What a lovely red and blue picture!"]
    assert len(image_parts(server.requests[-1])) == 1


async def test_the_picture_is_marked_in_the_stored_history(vision: Runtime, server: FakeOpenAI) -> None:
    surface = FakeSurface()
    await vision.conversations.handle(sent(surface, photo(800, 600), "my cat"), surface)
    await vision.conversations.handle(
        Incoming(surface.platform, surface.chat_id, surface.user_id, surface.display_name, "and now?"),
        surface,
    )
    history = [m for m in server.requests[-1]["messages"] if m["role"] == "user"]
    assert history[-2]["content"] == "my cat\n[sent a picture]"  # no picture sent again: only the mark
    assert image_parts(server.requests[-1]) == []


async def test_a_backend_without_vision_gets_the_caption_and_a_note(
    blind: Runtime, server: FakeOpenAI
) -> None:
    surface = FakeSurface()
    reply = await blind.conversations.handle(sent(surface, photo(800, 600), "Look at my cat!"), surface)
    assert reply is not None
    body = server.requests[-1]
    assert image_parts(body) == [] and "base64" not in str(body)
    text = caption_of(body)
    assert text.startswith("Look at my cat!") and "sent a picture, which you cannot see" in text


async def test_the_card_may_say_what_a_backend_without_vision_is_told(
    blind: Runtime, server: FakeOpenAI
) -> None:
    card = blind.characters.get("aiko")
    card.no_vision = "({{user}} shows {{char}} a photo; {{char}} has her glasses off and asks about it.)"
    surface = FakeSurface()
    await blind.conversations.handle(sent(surface, photo(800, 600)), surface)
    assert (
        caption_of(server.requests[-1])
        == "(Lin shows Aiko a photo; Aiko has her glasses off and asks about it.)"
    )


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"%PDF-1.7", "🖼 Aiko couldn't look at your picture: that file is not a picture I can read"),
        (
            png_claiming(100_000, 100_000),
            "🖼 Aiko couldn't look at your picture: the picture has too many pixels",
        ),
    ],
    ids=["not-a-picture", "bomb"],
)
async def test_what_cannot_be_looked_at_gets_one_clear_line(
    vision: Runtime, server: FakeOpenAI, data: bytes, line: str
) -> None:
    surface = FakeSurface()
    assert await vision.conversations.handle(sent(surface, data), surface) is None
    assert len(surface.texts()) == 1 and surface.texts()[0].startswith(line)
    assert server.requests == []  # nothing reached the model


async def test_a_bad_picture_with_a_caption_still_gets_the_caption_answered(
    vision: Runtime, server: FakeOpenAI
) -> None:
    surface = FakeSurface()
    reply = await vision.conversations.handle(sent(surface, b"junk", "hello there"), surface)
    assert reply is not None and surface.texts()[0].startswith("🖼 Aiko couldn't look")
    assert caption_of(server.requests[-1]) == "hello there"


async def test_a_picture_too_large_to_fetch_is_refused_before_it_is_read(
    vision: Runtime, server: FakeOpenAI
) -> None:
    vision.conversations.seer.limits = vision.conversations.seer.limits.__class__(max_bytes=1000)  # type: ignore[union-attr]
    surface = FakeSurface()
    assert await vision.conversations.handle(sent(surface, photo(800, 600)), surface) is None
    assert "at most 1,000" in surface.texts()[0]


async def test_the_terminal_sends_a_picture_named_with_image(
    runtime: Runtime, instant_llm: InstantLLM, tmp_path: Path
) -> None:
    instant_llm.vision = True
    picture = tmp_path / "cat.jpg"
    picture.write_bytes(photo(1200, 900))
    out = StringIO()
    chat = ConsoleChat(runtime, "aiko", "Lin", out=out, err=StringIO())
    await chat.command(f"/image {picture} what is this?")
    (request,) = instant_llm.requests
    user = [m for m in request.messages if m.role == "user"][-1]
    assert user.content == "what is this?" and len(user.images) == 1
    assert "Aiko: You said: what is this?" in out.getvalue()


async def conversation_of(runtime: Runtime, surface: FakeSurface) -> ConversationState:
    card = runtime.characters.get("aiko")
    key = runtime.pipeline.key_for(sent(surface, b""), card)
    return await runtime.memory.conversation(key, surface.display_name)


async def test_a_reference_and_a_small_thumbnail_are_kept_with_the_message(
    vision: Runtime, server: FakeOpenAI
) -> None:
    surface = FakeSurface()
    original = photo(3000, 2000)
    await vision.conversations.handle(sent(surface, original, "my cat"), surface)
    (kept,) = await vision.memory.pictures(await conversation_of(vision, surface))
    assert kept.reference == PHOTO.url and (kept.width, kept.height) == (3000, 2000)
    thumb = Image.open(io.BytesIO(kept.thumbnail))
    assert max(thumb.size) == 256 and len(kept.thumbnail) < len(original) // 20


async def test_forgetting_a_person_deletes_their_pictures(vision: Runtime, server: FakeOpenAI) -> None:
    surface = FakeSurface()
    await vision.conversations.handle(sent(surface, photo(800, 600)), surface)
    conversation = await conversation_of(vision, surface)
    await vision.memory.forget_user(surface.platform, surface.user_id)
    assert await vision.memory.pictures(conversation) == []


async def test_with_a_retention_of_zero_no_picture_is_kept(vision: Runtime, server: FakeOpenAI) -> None:
    vision.memory.picture_retention = timedelta(0)
    surface = FakeSurface()
    await vision.conversations.handle(sent(surface, photo(800, 600)), surface)
    assert await vision.memory.pictures(await conversation_of(vision, surface)) == []
