"""/sing on Discord: a typed melody comes back as a native voice message, sung in tune."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import soundfile

from anima.bots.discord import DiscordAdapter
from anima.config import Settings, VoiceSettings
from anima.voice.sing import parse
from anima.voice.sing.measure import accuracy
from anima.voice.sing.singer import offset_s
from tests.bots.test_discord import World
from tests.conftest import REPO
from tests.fakes.discord_server import IS_VOICE_MESSAGE

SONG = "tempo=100 | C4 D4 E4/2 G4/2 E4*2 | twin-kle lit-tle star"


def voiced(world: World) -> list[dict[str, Any]]:
    """The voice messages the bot posted in Alice's DMs."""
    return [m for m in world.fake.bot_messages(world.alice_dm) if m["flags"] & IS_VOICE_MESSAGE]


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    settings.voice = VoiceSettings(cache_dir=tmp_path / "voice-cache", notes_dir=tmp_path / "voice-notes")
    return settings


async def test_a_typed_melody_comes_back_as_a_voice_message_sung_in_tune(
    bot: DiscordAdapter, world: World
) -> None:
    await world.fake.slash(world.alice_dm, world.alice, "sing", {"args": SONG})

    await world.fake.wait_until(lambda: voiced(world), within_s=60)
    [attachment] = voiced(world)[0]["attachments"]
    samples, rate = soundfile.read(io.BytesIO(world.fake.file_bytes(attachment)), dtype="float32")
    assert accuracy(samples, rate, parse("/sing " + SONG).score, offset_s()).median_cents <= 20


async def test_a_bad_note_is_answered_with_the_token_to_fix(bot: DiscordAdapter, world: World) -> None:
    await world.fake.slash(world.alice_dm, world.alice, "sing", {"args": "| C4 H4 | la la"})

    def texts() -> list[str]:
        return [
            b.get("content") or ""
            for b in world.fake.sent_bodies()
            if "not a note" in (b.get("content") or "")
        ]

    await world.fake.wait_until(texts, within_s=30)
    assert "C4 »H4«" in texts()[0]


async def test_an_attached_midi_file_is_sung(bot: DiscordAdapter, world: World) -> None:
    midi = (REPO / "tests" / "data" / "scores" / "twinkle_en.mid").read_bytes()
    await world.fake.slash(world.alice_dm, world.alice, "sing", {"file": ("twinkle.mid", midi)})
    await world.fake.wait_until(lambda: voiced(world), within_s=60)
    [attachment] = voiced(world)[0]["attachments"]
    assert attachment["duration_secs"] == pytest.approx(9.6 + offset_s(), abs=0.5)
