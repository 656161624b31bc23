"""Any OpenAI-compatible /v1/audio/speech: OpenAI, Kokoro-FastAPI, openedai-speech, LocalAI.

The whole reply goes in one request (these models read mixed languages themselves), with the
stage-direction pauses as ellipses. Retries and timeouts are the client's own.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import openai
import soundfile

from anima.config import OpenAIVoiceSettings
from anima.errors import VoiceError
from anima.llm.openai_backend import openai_client
from anima.voice.engine import OffLoop, Pcm, Segment, VoiceChoice

MAX_INPUT_CHARS = 4096  # OpenAI's limit on `input`


class OpenAIEngine:
    name = "openai"

    def __init__(self, settings: OpenAIVoiceSettings, off_loop: OffLoop[Pcm]) -> None:
        self.settings = settings
        self._off_loop = off_loop
        self._client = openai_client(settings)

    def fingerprint(self) -> str:
        s = self.settings
        return f"openai {s.base_url} {s.model} {s.response_format}"

    async def synthesize(self, script: Sequence[Segment], choice: VoiceChoice) -> Pcm:
        text = " ".join(s.text + (" …" if s.pause_after_s >= 0.5 else "") for s in script)
        try:
            response = await self._client.audio.speech.create(
                model=self.settings.model,
                voice=choice.voice or self.settings.voice,
                input=text[:MAX_INPUT_CHARS],
                response_format=self.settings.response_format,
                speed=min(max(choice.speed, 0.25), 4.0),
            )
        except openai.APIStatusError as exc:
            raise VoiceError(
                f"the speech server at {self.settings.base_url} refused: {exc.status_code} {exc.message}"
            ) from exc
        except openai.APIError as exc:
            raise VoiceError(f"the speech server at {self.settings.base_url} failed: {exc}") from exc
        audio = response.content
        return await self._off_loop(lambda: self._decode(audio))

    def _decode(self, audio: bytes) -> Pcm:
        if self.settings.response_format == "pcm":  # 16-bit little-endian mono, no header
            samples = np.frombuffer(audio[: len(audio) // 2 * 2], dtype="<i2").astype(np.float32) / 32768
            return Pcm(samples, self.settings.pcm_sample_rate)
        try:
            samples, rate = soundfile.read(io.BytesIO(audio), dtype="float32", always_2d=True)
        except soundfile.LibsndfileError as exc:
            raise VoiceError(
                f"the speech server sent audio that is not {self.settings.response_format} ({exc}); "
                f"check voice.openai.response_format"
            ) from exc
        return Pcm(samples.mean(axis=1, dtype=np.float32), rate)

    async def close(self) -> None:
        await self._client.close()
