"""/sing on Telegram: a melody typed in the notation, or a MIDI file sent with /sing, comes back sung."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import soundfile

from anima.bots.telegram import TelegramAdapter
from anima.config import Settings, VoiceSettings
from anima.voice.sing import parse
from anima.voice.sing.measure import accuracy
from anima.voice.sing.singer import offset_s
from tests.bots.test_telegram import ALICE, say
from tests.conftest import REPO
from tests.fakes.llm import InstantLLM
from tests.fakes.telegram_server import FakeBot, private_chat

CHAT = private_chat(ALICE)
SONG = "/sing tempo=100 | C4 D4 E4/2 G4/2 E4*2 | 小 星 星 亮 晶"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    settings.voice = VoiceSettings(cache_dir=tmp_path / "voice-cache", notes_dir=tmp_path / "voice-notes")
    return settings


async def voice_reply(fake: FakeBot) -> bytes:
    await fake.wait_for(lambda: any(m.kind == "voice" for m in fake.replies(ALICE["id"])), within_s=60)
    note = next(m for m in fake.replies(ALICE["id"]) if m.kind == "voice")
    assert note.voice is not None
    return note.voice


async def test_a_typed_melody_comes_back_as_a_voice_note_sung_in_tune(
    adapter: TelegramAdapter, fake: FakeBot
) -> None:
    fake.send_text(CHAT, ALICE, SONG)
    samples, rate = soundfile.read(io.BytesIO(await voice_reply(fake)), dtype="float32")
    assert accuracy(samples, rate, parse(SONG).score, offset_s()).median_cents <= 20
    assert "record_voice" in [c.params["action"] for c in fake.calls_to("sendChatAction")]


async def test_a_bad_note_is_answered_with_the_token_to_fix(adapter: TelegramAdapter, fake: FakeBot) -> None:
    answer = await say(fake, CHAT, ALICE, "/sing | C4 D4 H4 | la la la")
    assert "'H4': not a note" in answer
    assert "C4 D4 »H4«" in answer


async def test_a_midi_file_with_sing_as_its_caption_is_sung(adapter: TelegramAdapter, fake: FakeBot) -> None:
    data = (REPO / "tests" / "data" / "scores" / "twinkle_en.mid").read_bytes()
    fake.files["midi1"] = data
    document = {
        "file_id": "midi1",
        "file_unique_id": "midi1",
        "file_name": "twinkle.mid",
        "file_size": len(data),
    }
    caption = {"caption": "/sing", "caption_entities": [{"type": "bot_command", "offset": 0, "length": 5}]}
    fake.inject({"message": fake.message(CHAT, ALICE, document=document, **caption)})
    info = soundfile.info(io.BytesIO(await voice_reply(fake)))
    assert info.duration == pytest.approx(9.6 + offset_s(), abs=0.5)


async def test_lyrics_the_character_would_not_say_are_refused_and_not_sung(
    adapter: TelegramAdapter, fake: FakeBot
) -> None:
    answer = await say(fake, CHAT, ALICE, "/sing | C4 D4 E4 F4 G4 A4 B4 | you are a worth-less i-di-ot")
    assert answer.strip() and "worthless" not in answer
    assert fake.calls_to("sendVoice") == []


async def test_sing_about_a_topic_has_the_character_write_fitting_lyrics_and_sing_them(
    adapter: TelegramAdapter, fake: FakeBot, instant_llm: InstantLLM
) -> None:
    answers = iter(["the sea is wide\nand blue and deep", "the blue sea\nis wide and deep"])
    instant_llm.reply = lambda request: next(answers)
    fake.send_text(CHAT, ALICE, "/sing tempo=120 about the sea | C4 D4 E4 R G4 A4 G4 E4")
    info = soundfile.info(io.BytesIO(await voice_reply(fake)))
    assert info.duration == pytest.approx(4.0 + offset_s(), abs=0.5)
    assert len(instant_llm.requests) == 2  # the first answer had a line one syllable too long
