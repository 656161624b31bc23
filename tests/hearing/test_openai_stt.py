"""stt.engine openai: the decoded, bounded audio goes to /audio/transcriptions of the named backend."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
import soundfile

from anima.config import LLMSettings, OpenAIBackend, Settings, SttSettings
from anima.errors import HearingError
from anima.hearing import AudioTooLong, HearingService
from tests.fakes.openai_server import FakeOpenAI
from tests.hearing.sounds import EIGHT, hum, ogg


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI(transcription_text="I hummed you a tune.")
    await fake.start()
    yield fake
    await fake.stop()


def service(server: FakeOpenAI) -> HearingService:
    backend = OpenAIBackend(kind="openai", base_url=server.base_url, api_key="sk-test", max_retries=0)
    llm = LLMSettings(default="speech", backends={"speech": backend})
    return HearingService(SttSettings(engine="openai", backend="speech"), llm)


async def test_the_server_gets_16k_wav_and_its_text_is_the_transcript(server: FakeOpenAI) -> None:
    hearing = service(server)
    transcript = await hearing.hear(ogg(hum(EIGHT)), ["en"])
    await hearing.close()
    assert transcript.text == "I hummed you a tune." and transcript.engine == "openai whisper-1"
    sent = server.transcription_requests[0]
    assert sent["model"] == "whisper-1" and sent["language"] == "en"
    info = soundfile.info(io.BytesIO(sent["file"]))
    assert (info.format, info.samplerate, info.channels) == ("WAV", 16000, 1)


async def test_a_refusal_becomes_a_hearing_error_naming_the_server(server: FakeOpenAI) -> None:
    server.fail_next(500)
    hearing = service(server)
    with pytest.raises(HearingError, match=r"speech-to-text server at .* refused: 500"):
        await hearing.hear(ogg(hum(EIGHT)), ["en"])
    await hearing.close()


async def test_too_long_audio_never_reaches_the_server(server: FakeOpenAI) -> None:
    hearing = HearingService(
        SttSettings(engine="openai", backend="speech", max_seconds=2),
        LLMSettings(
            default="speech", backends={"speech": OpenAIBackend(kind="openai", base_url=server.base_url)}
        ),
    )
    with pytest.raises(AudioTooLong, match="at most 2 s"):
        await hearing.hear(ogg(hum(EIGHT)), ["en"])
    await hearing.close()
    assert server.transcription_requests == []


def test_stt_backend_must_name_an_openai_backend() -> None:
    with pytest.raises(ValueError, match=r"stt\.backend 'openai' must name an openai backend"):
        Settings(stt=SttSettings(engine="openai"))
