"""Voice notes from the offline espeak engine, decoded as a player would decode them."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from anima.config import VoiceSettings
from anima.errors import VoiceError
from anima.voice import VoiceService
from tests.voice.conftest import card, decode

ENGLISH = "Hello there, my friend! I spent the whole morning sketching cherry blossoms by the river."
CHINESE = "你好呀，今天想听歌，还是想一起写歌？我最喜欢的歌是夜航星。"


async def test_an_english_reply_becomes_a_48k_mono_ogg_opus_note(voice: VoiceService) -> None:
    note = await voice.speak(card("aiko"), ENGLISH)
    audio = decode(note)
    assert (audio.container, audio.codec, audio.sample_rate, audio.channels) == ("OGG", "OPUS", 48000, 1)
    assert note.mime == "audio/ogg"
    assert len(ENGLISH) / 30 < audio.duration_s < len(ENGLISH) / 6  # ~6 to 30 characters a second
    assert abs(note.duration_s - audio.duration_s) < 0.05


async def test_a_chinese_reply_speaks_at_a_chinese_pace(voice: VoiceService) -> None:
    note = await voice.speak(card("xingyao"), CHINESE)
    audio = decode(note)
    assert (audio.container, audio.codec, audio.sample_rate) == ("OGG", "OPUS", 48000)
    assert len(CHINESE) / 10 < audio.duration_s < len(CHINESE) / 1.5  # ~1.5 to 10 characters a second
    assert audio.rms > 0.03


async def test_a_voice_note_is_neither_silent_nor_clipped(voice: VoiceService) -> None:
    audio = decode(await voice.speak(card("aiko"), ENGLISH))
    assert 0.03 < audio.rms < 0.3
    assert np.abs(audio.samples).max() < 1.0


async def test_mixed_chinese_and_english_both_speak(voice: VoiceService) -> None:
    xingyao = card("xingyao")
    chinese = decode(await voice.speak(xingyao, "今天想听歌吗？"))
    english = decode(await voice.speak(xingyao, "Do you want to hear a song today?"))
    mixed = decode(await voice.speak(xingyao, "今天想听歌吗？Do you want to hear a song today?"))
    assert chinese.rms > 0.03 and english.rms > 0.03
    assert mixed.duration_s > max(chinese.duration_s, english.duration_s) + 0.5


async def test_markdown_emoji_and_urls_add_no_speech(voice: VoiceService) -> None:
    plain = decode(await voice.speak(card("aiko"), "Hello there, my friend. See you tomorrow."))
    marked = decode(
        await voice.speak(
            card("aiko"),
            "**Hello** there, _my_ friend 😊✨ https://example.com/a/long/path?x=1. See you `tomorrow` 👋",
        )
    )
    assert abs(marked.duration_s - plain.duration_s) < 0.3


async def test_a_stage_direction_is_a_short_pause_not_words(voice: VoiceService) -> None:
    plain = decode(await voice.speak(card("aiko"), "Hello. Goodbye."))
    acted = decode(await voice.speak(card("aiko"), "Hello. *smiles warmly and waves at everyone* Goodbye."))
    assert 0.1 < acted.duration_s - plain.duration_s < 1.0


async def test_the_waveform_has_one_byte_per_100_ms_up_to_256(voice: VoiceService) -> None:
    short = await voice.speak(card("aiko"), "Hi there, friend.")
    long = await voice.speak(card("aiko"), ENGLISH * 6)  # over 25.6 s
    assert len(decode(short).waveform) == int(short.duration_s * 10)
    assert len(decode(long).waveform) == 256
    assert max(decode(long).waveform) == 255


async def test_the_cards_speed_changes_the_pace(voice: VoiceService) -> None:
    normal = decode(await voice.speak(card("aiko"), ENGLISH))
    fast = decode(await voice.speak(card("aiko", speed=2.0), ENGLISH))
    assert fast.duration_s < normal.duration_s * 0.7


async def test_the_same_utterance_comes_from_the_disk_cache(voice_settings: VoiceSettings) -> None:
    first_service = VoiceService(voice_settings)
    first = await first_service.speak(card("aiko"), ENGLISH)
    await first_service.close()
    second_service = VoiceService(voice_settings)  # a restart: only the disk remembers
    second = await second_service.speak(card("aiko"), ENGLISH)
    await second_service.close()
    assert second.ogg == first.ogg  # a fresh encode would carry a new random Ogg serial number
    assert (second.duration_s, second.waveform_b64) == (first.duration_s, first.waveform_b64)


async def test_a_different_voice_setting_is_not_a_cache_hit(voice: VoiceService) -> None:
    first = await voice.speak(card("aiko"), ENGLISH)
    higher = await voice.speak(card("aiko", pitch=1.5), ENGLISH)
    assert higher.ogg != first.ogg


async def test_the_disk_cache_stays_under_its_size_cap(tmp_path: Path) -> None:
    settings = VoiceSettings(cache_dir=tmp_path / "cache", cache_max_mb=0.05)  # ~52 KB: a few notes
    service = VoiceService(settings)
    for i in range(8):
        await service.speak(card("aiko"), f"Note number {i}: the river was calm and the tea was warm.")
    await service.close()
    on_disk = sum(p.stat().st_size for p in (tmp_path / "cache").iterdir())
    assert 0 < on_disk <= 0.05 * 1024 * 1024


async def test_concurrent_requests_all_get_valid_notes(tmp_path: Path) -> None:
    service = VoiceService(VoiceSettings(cache_dir=tmp_path / "cache", max_concurrency=2))
    texts = [f"Message {i}, spoken while others wait their turn." for i in range(6)]
    notes = await asyncio.wait_for(asyncio.gather(*(service.speak(card("aiko"), t) for t in texts)), 60)
    await service.close()
    assert all(decode(n).codec == "OPUS" and decode(n).rms > 0.03 for n in notes)


async def test_identical_concurrent_requests_share_one_note(voice: VoiceService) -> None:
    notes = await asyncio.gather(*(voice.speak(card("aiko"), ENGLISH) for _ in range(3)))
    assert notes[0].ogg == notes[1].ogg == notes[2].ogg


async def test_an_unknown_espeak_voice_says_how_to_fix_it(voice: VoiceService) -> None:
    with pytest.raises(VoiceError, match=r"no voice 'xx-yy'.*voice\.voice"):
        await voice.speak(card("aiko", voice="xx-yy"), "Hello.")


async def test_a_reply_of_only_emoji_raises_instead_of_sending_silence(voice: VoiceService) -> None:
    with pytest.raises(VoiceError, match="no words"):
        await voice.speak(card("aiko"), "😊🎉 *waves*")


async def test_a_card_asking_for_a_disabled_engine_falls_back_to_an_enabled_one(voice: VoiceService) -> None:
    note = await voice.speak(card("aiko", engine="openai", voice="nova"), "Hello there.")
    assert decode(note).codec == "OPUS"


async def test_voice_can_be_turned_off_in_the_config(tmp_path: Path) -> None:
    service = VoiceService(VoiceSettings(engines=[], cache_dir=tmp_path))
    with pytest.raises(VoiceError, match=r"voice\.engines"):
        await service.speak(card("aiko"), "Hello.")
    await service.close()


@pytest.mark.skipif(importlib.util.find_spec("piper") is not None, reason="piper-tts is installed here")
async def test_piper_without_its_package_names_the_install_command(tmp_path: Path) -> None:
    service = VoiceService(VoiceSettings(engines=["piper"], cache_dir=tmp_path))
    with pytest.raises(VoiceError, match=r"anima\[piper\]"):
        await service.speak(card("aiko", engine="piper", voice="en_US-lessac-medium"), "Hello.")
    await service.close()
