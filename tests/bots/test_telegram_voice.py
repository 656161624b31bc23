"""Voice notes on Telegram: after /voice on the character also answers with a real OGG/Opus note."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import soundfile

from anima.app import Runtime
from anima.bots.telegram import TelegramAdapter
from anima.config import OpenAIVoiceSettings, Settings, VoiceSettings
from tests.bots.test_telegram import ALICE, GROUP, bot_settings, say
from tests.fakes.llm import InstantLLM
from tests.fakes.telegram_server import FakeBot, FakeTelegram, SentMessage, private_chat

CHAT = private_chat(ALICE)


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    settings.voice = VoiceSettings(cache_dir=tmp_path / "voice-cache", notes_dir=tmp_path / "voice-notes")
    return settings


def voice_mode(runtime: Runtime, mode: str) -> None:
    """Aiko's card with `voice.mode` changed, as if its file had been edited (hot reload)."""
    aiko = runtime.characters.get("aiko")
    changed = aiko.model_copy(update={"voice": aiko.voice.model_copy(update={"mode": mode})})
    changed.id = aiko.id
    runtime.characters.cards["aiko"] = changed


def sent(fake: FakeBot, chat_id: int, kind: str) -> list[SentMessage]:
    return [m for m in fake.replies(chat_id) if m.kind == kind]


async def voice_on(fake: FakeBot, chat: dict[str, Any] = CHAT) -> None:
    await say(fake, chat, ALICE, "/voice on")


async def wait_for_voice(fake: FakeBot, chat_id: int = ALICE["id"]) -> SentMessage:
    await fake.wait_for(lambda: bool(sent(fake, chat_id, "voice")), within_s=20)
    return sent(fake, chat_id, "voice")[0]


async def test_with_voice_on_the_reply_also_arrives_as_a_48k_ogg_opus_voice_note(
    adapter: TelegramAdapter, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    instant_llm.reply = lambda request: "Hello there, my friend! The cherry blossoms are out by the river."
    await voice_on(fake)
    fake.send_text(CHAT, ALICE, "how is the weather?")
    note = await wait_for_voice(fake)

    assert note.voice is not None
    info = soundfile.info(io.BytesIO(note.voice))
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("OGG", "OPUS", 48000, 1)
    assert 1.5 < info.duration < 15
    assert note.duration == max(1, round(info.duration))
    texts = [m.text for m in sent(fake, ALICE["id"], "text")]
    assert texts[-1] == "Hello there, my friend! The cherry blossoms are out by the river."


async def test_the_voice_note_follows_the_text_and_recording_is_shown_meanwhile(
    adapter: TelegramAdapter, fake: FakeBot
) -> None:
    await voice_on(fake)
    fake.send_text(CHAT, ALICE, "tell me a story")
    await wait_for_voice(fake)
    calls = [c for c in fake.calls if c.method in ("sendMessage", "sendVoice", "sendChatAction")]
    methods = [c.method if c.method != "sendChatAction" else c.params["action"] for c in calls]
    last_text = len(methods) - 1 - methods[::-1].index("sendMessage")
    assert methods[last_text:] == ["sendMessage", "record_voice", "sendVoice"]


async def test_with_voice_off_no_voice_note_is_sent(adapter: TelegramAdapter, fake: FakeBot) -> None:
    await say(fake, CHAT, ALICE, "hello")
    await say(fake, CHAT, ALICE, "hello again")  # answered after anything the first could send
    assert fake.calls_to("sendVoice") == []


async def test_voice_on_is_per_person(adapter: TelegramAdapter, fake: FakeBot) -> None:
    bob = {"id": 102, "is_bot": False, "first_name": "Bob"}
    await voice_on(fake)
    await say(fake, private_chat(bob), bob, "hello")
    await say(fake, private_chat(bob), bob, "hello again")
    assert fake.calls_to("sendVoice") == []


async def test_after_forget_replies_are_text_only_again(adapter: TelegramAdapter, fake: FakeBot) -> None:
    await voice_on(fake)
    await say(fake, CHAT, ALICE, "/forget")
    question = fake.replies(ALICE["id"])[-1]
    fake.press(CHAT, ALICE, question, "Yes, delete everything")
    await fake.wait_for(lambda: fake.replies(ALICE["id"])[-1].text.startswith("Done"))
    await say(fake, CHAT, ALICE, "hello")
    await say(fake, CHAT, ALICE, "hello again")
    assert fake.calls_to("sendVoice") == []


async def test_in_voice_only_mode_the_reply_arrives_as_a_voice_note_alone(
    adapter: TelegramAdapter, fake: FakeBot, runtime: Runtime
) -> None:
    voice_mode(runtime, "voice")
    await voice_on(fake)
    before = len(fake.replies(ALICE["id"]))
    fake.send_text(CHAT, ALICE, "sing me something")
    await wait_for_voice(fake)
    assert [m.kind for m in fake.replies(ALICE["id"])[before:]] == ["voice"]
    assert "record_voice" in [c.params["action"] for c in fake.calls_to("sendChatAction")]


async def test_a_voice_note_in_a_group_quotes_the_message_it_answers(
    adapter: TelegramAdapter, fake: FakeBot
) -> None:
    await say(fake, GROUP, ALICE, "/voice on")
    asked = fake.send_text(GROUP, ALICE, "@aiko_bot hello")
    note = await wait_for_voice(fake, GROUP["id"])
    assert note.reply_to == asked["message_id"]


async def test_in_voice_only_mode_a_failed_reply_is_sent_as_text(
    adapter: TelegramAdapter, fake: FakeBot, runtime: Runtime, instant_llm: InstantLLM
) -> None:
    voice_mode(runtime, "voice")
    await voice_on(fake)
    before = len(fake.replies(ALICE["id"]))
    instant_llm.fail_with = "the model server is down"
    await say(fake, CHAT, ALICE, "are you there?")
    instant_llm.fail_with = None
    fake.send_text(CHAT, ALICE, "now?")
    await wait_for_voice(fake)  # answered in order: what the failed reply sent came before
    apology, note = fake.replies(ALICE["id"])[before:]
    assert (apology.kind, note.kind) == ("text", "voice")
    assert apology.text.strip()


@pytest.fixture
async def voiceless_runtime(
    settings: Settings, instant_llm: InstantLLM, unused_tcp_port: int
) -> AsyncIterator[Runtime]:
    """A runtime whose only voice engine is a speech server that is not there."""
    settings.voice = settings.voice.model_copy(
        update={
            "engines": ["openai"],
            "openai": OpenAIVoiceSettings(
                base_url=f"http://127.0.0.1:{unused_tcp_port}/v1", max_retries=0, timeout_s=5
            ),
        }
    )
    rt = await Runtime.start(settings)
    rt.router.register("embedded", instant_llm)
    yield rt
    await rt.close()


async def test_when_synthesis_fails_in_voice_only_mode_the_text_still_arrives(
    voiceless_runtime: Runtime, tg: FakeTelegram, fake: FakeBot
) -> None:
    voice_mode(voiceless_runtime, "voice")
    adapter = TelegramAdapter(voiceless_runtime, bot_settings(tg, fake), 0)
    await adapter.start()
    try:
        await voice_on(fake)
        assert await say(fake, CHAT, ALICE, "hello?") == "You said: hello?"
    finally:
        await adapter.stop()
    assert fake.calls_to("sendVoice") == []
