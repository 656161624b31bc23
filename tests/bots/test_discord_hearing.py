"""Voice messages on Discord, through the unmodified discord.py client against the fake: a voice
message (flag IS_VOICE_MESSAGE) or an audio attachment is fetched from the CDN, heard and answered as
if typed, in voice too; /sing with a hummed recording as its file sings the lyrics on its tune."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from anima.bots.discord import DiscordAdapter
from anima.config import Settings, SttSettings, VoiceSettings
from tests.bots.test_discord import World
from tests.fakes.discord_server import IS_VOICE_MESSAGE
from tests.hearing.sounds import EIGHT, hum, ogg, speech

pytest.importorskip("faster_whisper")

SAID = "Please remember that my cat is called Pepper."


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    settings.stt = SttSettings(model="tiny.en", models_dir=tmp_path / "stt-models")
    settings.voice = VoiceSettings(cache_dir=tmp_path / "voice-cache", notes_dir=tmp_path / "voice-notes")
    return settings


def voiced(world: World) -> list[dict[str, Any]]:
    return [m for m in world.fake.bot_messages(world.alice_dm) if m["flags"] & IS_VOICE_MESSAGE]


def texts(world: World) -> list[str]:
    return [m["content"] for m in world.fake.bot_messages(world.alice_dm) if m["content"]]


async def test_a_voice_message_is_answered_as_if_typed_and_in_voice(
    bot: DiscordAdapter, world: World
) -> None:
    await world.fake.say(world.alice_dm, world.alice, "", files=[("voice-message.ogg", ogg(speech(SAID)))],
                         voice_duration_s=3.0)  # fmt: skip
    await world.fake.wait_until(lambda: voiced(world), within_s=60)
    assert texts(world)[-1].startswith("You said: ") and "pepper" in texts(world)[-1].lower()
    assert len(world.fake.downloads) == 1  # the recording, fetched from the CDN once


async def test_an_audio_attachment_is_heard_too(bot: DiscordAdapter, world: World) -> None:
    await world.fake.say(world.alice_dm, world.alice, "", files=[("message.ogg", ogg(speech(SAID)))])
    await world.fake.wait_until(lambda: voiced(world), within_s=60)
    assert "pepper" in texts(world)[-1].lower()


async def test_a_voice_message_that_cannot_be_heard_gets_one_line(bot: DiscordAdapter, world: World) -> None:
    await world.fake.say(world.alice_dm, world.alice, "", files=[("voice-message.ogg", b"no sound here")],
                         voice_duration_s=1.0)  # fmt: skip
    await world.fake.wait_until(lambda: texts(world), within_s=30)
    assert texts(world) == [
        "🎤 Aiko couldn't listen to your voice message: the file is not audio that can be read."
    ]


async def test_sing_with_a_hummed_recording_sings_the_lyrics_on_its_tune(
    bot: DiscordAdapter, world: World
) -> None:
    await world.fake.slash(
        world.alice_dm, world.alice, "sing", {"args": "row your boat", "file": ("hum.ogg", ogg(hum(EIGHT)))}
    )
    await world.fake.wait_until(lambda: voiced(world), within_s=60)
    heard = [
        b.get("content") or "" for b in world.fake.sent_bodies() if "I heard" in (b.get("content") or "")
    ]
    assert heard and "| row _ _ your _ boat _ _" in heard[0]
