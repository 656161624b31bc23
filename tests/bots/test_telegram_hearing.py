"""Voice messages on Telegram, through the unmodified PTB client against the fake Bot API: a voice
note, an audio file or a video note is downloaded with getFile, heard, and answered as if typed (in
voice too); /sing on a hummed voice note sings the lyrics on its tune."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from anima.bots.telegram import TelegramAdapter
from anima.config import Settings, SttSettings, VoiceSettings
from tests.bots.test_telegram import ALICE
from tests.fakes.telegram_server import FakeBot, SentMessage, private_chat
from tests.hearing.sounds import EIGHT, heard_tempo, hum, ogg, speech

pytest.importorskip("faster_whisper")

CHAT = private_chat(ALICE)
SAID = "Please remember that my cat is called Pepper."


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    settings.stt = SttSettings(model="tiny.en", models_dir=tmp_path / "stt-models")
    settings.voice = VoiceSettings(cache_dir=tmp_path / "voice-cache", notes_dir=tmp_path / "voice-notes")
    return settings


def of_kind(fake: FakeBot, kind: str) -> list[SentMessage]:
    return [m for m in fake.replies(ALICE["id"]) if m.kind == kind]


async def answered_in_voice(fake: FakeBot) -> tuple[list[str], SentMessage]:
    await fake.wait_for(lambda: bool(of_kind(fake, "voice")), within_s=60)
    return [m.text for m in of_kind(fake, "text")], of_kind(fake, "voice")[0]


def m4a_with_aac(samples: np.ndarray) -> bytes:
    """An MP4 holding AAC audio, as a round video note's sound track is."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16_000, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            samples.reshape(1, -1).astype(np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 16_000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return buffer.getvalue()


async def test_a_voice_note_is_answered_as_if_typed_and_in_voice(
    adapter: TelegramAdapter, fake: FakeBot
) -> None:
    fake.send_recording(CHAT, ALICE, ogg(speech(SAID)), duration=3)
    texts, note = await answered_in_voice(fake)
    assert texts[-1].startswith("You said: ") and "pepper" in texts[-1].lower()
    assert note.voice is not None and len(fake.downloads) == 1  # the note, fetched once with getFile


@pytest.mark.parametrize("kind", ["audio", "video_note"])
async def test_an_audio_file_or_a_video_note_is_heard_too(
    adapter: TelegramAdapter, fake: FakeBot, kind: str
) -> None:
    data = ogg(speech(SAID)) if kind == "audio" else m4a_with_aac(speech(SAID))
    fake.send_recording(CHAT, ALICE, data, duration=3, kind=kind)
    texts, _ = await answered_in_voice(fake)
    assert "pepper" in texts[-1].lower()


async def test_a_recording_that_cannot_be_heard_gets_one_line(
    adapter: TelegramAdapter, fake: FakeBot
) -> None:
    fake.send_recording(CHAT, ALICE, b"this is not a recording", duration=3)
    replies = await fake.wait_for_replies(ALICE["id"], 1)
    assert (
        replies[0].text
        == "🎤 Aiko couldn't listen to your voice message: the file is not audio that can be read."
    )
    assert of_kind(fake, "voice") == []


async def test_sing_as_the_caption_of_a_hummed_voice_note_sings_its_tune(
    adapter: TelegramAdapter, fake: FakeBot
) -> None:
    fake.send_recording(CHAT, ALICE, ogg(hum(EIGHT)), duration=5, caption="/sing row your boat")
    texts, song = await answered_in_voice(fake)
    assert heard_tempo(texts[-1]) == pytest.approx(
        100, abs=1.5
    )  # the contract of tests/hearing/test_melody.py
    assert "| row _ _ your _ boat _ _" in texts[-1]
    assert song.voice is not None


async def test_sing_in_reply_to_a_hummed_voice_note_sings_its_tune(
    adapter: TelegramAdapter, fake: FakeBot
) -> None:
    hummed = fake.message(CHAT, ALICE, voice={"file_id": "hum-1", "file_unique_id": "hum-1", "duration": 5})
    fake.files["hum-1"] = ogg(hum(EIGHT))
    fake.send_text(CHAT, ALICE, "/sing row your boat", reply_to=hummed)
    texts, _ = await answered_in_voice(fake)
    assert "| row _ _ your _ boat _ _" in texts[-1]
