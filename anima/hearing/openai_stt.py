"""Any OpenAI-compatible `POST /audio/transcriptions` (OpenAI, faster-whisper-server, LocalAI, vLLM).

The audio is sent as it was decoded and bounded here (16 kHz mono WAV), never the file as received.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence

import openai
import soundfile

from anima.config import OpenAIBackend
from anima.errors import HearingError
from anima.hearing.audio import Audio, NothingHeard
from anima.hearing.engine import Transcript
from anima.llm.openai_backend import openai_client


class OpenAITranscriber:
    name = "openai"

    def __init__(self, backend: OpenAIBackend, model: str) -> None:
        self.backend = backend
        self.model = model
        self._client = openai_client(backend)

    async def transcribe(self, audio: Audio, languages: Sequence[str]) -> Transcript:
        wav = await asyncio.to_thread(_wav, audio)
        language = languages[0] if len(languages) == 1 else openai.omit
        try:
            result = await self._client.audio.transcriptions.create(
                model=self.model, file=("voice.wav", wav, "audio/wav"), language=language
            )
        except openai.APIStatusError as exc:
            where = self.backend.base_url
            raise HearingError(
                f"the speech-to-text server at {where} refused: {exc.status_code} {exc.message}"
            ) from exc
        except openai.APIError as exc:
            raise HearingError(f"the speech-to-text server at {self.backend.base_url} failed: {exc}") from exc
        text = (result.text or "").strip()
        if not text:
            raise NothingHeard("no words could be made out in it")
        language = getattr(result, "language", None) or (languages[0] if len(languages) == 1 else "")
        return Transcript(text, language, audio.duration_s, f"openai {self.model}")

    async def close(self) -> None:
        await self._client.close()


def _wav(audio: Audio) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, audio.samples, audio.sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()
