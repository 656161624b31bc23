"""The openai engine through the real `openai` client against the fake server's /v1/audio/speech."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

from anima.config import OpenAIVoiceSettings, VoiceSettings
from anima.errors import VoiceError
from anima.voice import VoiceService
from tests.fakes.openai_server import FakeOpenAI
from tests.voice.conftest import card, decode

SERVER_RATE = 24_000  # what OpenAI's speech models send


def speech_like(seconds: float, rate: int = SERVER_RATE) -> np.ndarray:
    """A voiced, syllable-paced signal standing in for a TTS server's speech."""
    t = np.arange(int(seconds * rate)) / rate
    voiced = sum(np.sin(2 * np.pi * 180 * k * t) / k for k in range(1, 6))
    syllables = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    return (0.2 * voiced * syllables).astype(np.float32)


def wav_bytes(samples: np.ndarray, rate: int = SERVER_RATE) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    await fake.start()
    yield fake
    await fake.stop()


def service(server: FakeOpenAI, tmp_path: Path, **openai: object) -> VoiceService:
    settings = OpenAIVoiceSettings(base_url=server.base_url, api_key="sk-test", max_retries=0, **openai)
    return VoiceService(VoiceSettings(engines=["openai", "espeak"], openai=settings, cache_dir=tmp_path))


async def test_the_servers_wav_becomes_a_48k_opus_note_of_the_same_length(
    server: FakeOpenAI, tmp_path: Path
) -> None:
    server.speech_audio = wav_bytes(speech_like(2.0))
    voice = service(server, tmp_path)
    note = await voice.speak(card("aiko", engine="openai", voice="nova"), "Hello there, friend.")
    await voice.close()
    audio = decode(note)
    assert (audio.container, audio.codec, audio.sample_rate, audio.channels) == ("OGG", "OPUS", 48000, 1)
    assert abs(audio.duration_s - 2.0) < 0.05
    assert audio.rms > 0.03


async def test_the_request_carries_the_cards_voice_and_speed_and_clean_text(
    server: FakeOpenAI, tmp_path: Path
) -> None:
    server.speech_audio = wav_bytes(speech_like(1.0))
    voice = service(server, tmp_path, model="kokoro")
    await voice.speak(
        card("aiko", engine="openai", voice="af_bella", speed=1.25), "**Hi!** 😊 Nice to meet you."
    )
    await voice.close()
    [request] = server.speech_requests
    assert request["model"] == "kokoro" and request["voice"] == "af_bella" and request["speed"] == 1.25
    assert request["response_format"] == "wav"
    assert request["input"] == "Hi! Nice to meet you."


async def test_a_card_without_a_voice_gets_the_configured_default(server: FakeOpenAI, tmp_path: Path) -> None:
    server.speech_audio = wav_bytes(speech_like(1.0))
    voice = service(server, tmp_path, voice="shimmer")
    await voice.speak(card("aiko", engine="openai", voice=None), "Hello.")
    await voice.close()
    assert server.speech_requests[0]["voice"] == "shimmer"


async def test_raw_pcm_responses_are_read_at_the_configured_rate(server: FakeOpenAI, tmp_path: Path) -> None:
    pcm = (speech_like(1.5) * 32767).astype("<i2").tobytes()
    server.speech_audio = pcm
    voice = service(server, tmp_path, response_format="pcm", pcm_sample_rate=SERVER_RATE)
    note = await voice.speak(card("aiko", engine="openai"), "Hello there.")
    await voice.close()
    assert abs(decode(note).duration_s - 1.5) < 0.05


async def test_a_server_error_is_a_voice_error_naming_the_server(server: FakeOpenAI, tmp_path: Path) -> None:
    server.fail_next(500)
    voice = service(server, tmp_path)
    with pytest.raises(VoiceError, match=r"speech server at http://127\.0\.0\.1.*500"):
        await voice.speak(card("aiko", engine="openai"), "Hello.")
    await voice.close()


async def test_audio_in_the_wrong_format_says_which_setting_to_check(
    server: FakeOpenAI, tmp_path: Path
) -> None:
    server.speech_audio = b"ID3 this is not a wav file at all"
    voice = service(server, tmp_path)
    with pytest.raises(VoiceError, match=r"response_format"):
        await voice.speak(card("aiko", engine="openai"), "Hello.")
    await voice.close()
