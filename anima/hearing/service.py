"""`runtime.hearing`: a voice message's bytes in, its transcript (or its melody) out, off the event loop.

Every step runs on one bounded pool: decoding (bounded in size and duration first), then the engine.
At most stt.max_concurrency voice messages are worked on at once; the rest wait their turn.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from anima.config import LLMSettings, OpenAIBackend, SttSettings
from anima.errors import HearingError
from anima.hearing.audio import Audio, decode
from anima.hearing.engine import Transcriber, Transcript
from anima.ops.metrics import METRICS

if TYPE_CHECKING:
    from anima.hearing.melody import Melody

T = TypeVar("T")

HEARD = "🎤 heard: {text}"
_ECHO_CHARS = 300


class HearingOff(HearingError):
    """stt.engine is none."""


class HearingService:
    def __init__(
        self,
        settings: SttSettings | None = None,
        llm: LLMSettings | None = None,
        resolve: Callable[[Path], Path] = lambda p: p,
    ) -> None:
        self.settings = settings = settings or SttSettings()
        self._llm = llm or LLMSettings()
        self._resolve = resolve
        self._pool = ThreadPoolExecutor(settings.max_concurrency, thread_name_prefix="hearing")
        self._slots = asyncio.Semaphore(settings.max_concurrency)
        self._transcriber: Transcriber | None = None

    async def _off_loop(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    @property
    def on(self) -> bool:
        return self.settings.engine != "none"

    def languages(self, card_language: str) -> list[str]:
        """The languages to expect from people talking to a character of `card_language`."""
        if self.settings.languages:
            return list(self.settings.languages)
        base = card_language.split("-")[0].lower() or "en"
        return list(dict.fromkeys([base, "en"]))

    async def decode(self, data: bytes) -> Audio:
        """The audio in `data`, bounded by stt.max_seconds and stt.max_mb. Raises HearingError."""
        s = self.settings
        return await self._off_loop(lambda: decode(data, s.max_seconds, int(s.max_mb * 1e6)))

    async def hear(self, data: bytes, languages: Sequence[str] = ("en",)) -> Transcript:
        """What is said in the recording `data`. Raises HearingError with a reason a person can act on."""
        if not self.on:
            raise HearingOff("voice messages are not listened to here (stt.engine is none)")
        async with self._slots:
            started = time.perf_counter()
            audio = await self.decode(data)
            transcript = await self.transcriber().transcribe(audio, list(languages) or ["en"])
            METRICS.stage_since("hearing", started)
            return transcript

    async def melody(self, data: bytes) -> Melody:
        """The tune hummed in the recording `data` (at most a song's length). Raises HearingError."""
        from anima.hearing.melody import extract
        from anima.hearing.song import MAX_HUM_S

        s = self.settings
        async with self._slots:
            limit = min(s.max_seconds, MAX_HUM_S)
            audio = await self._off_loop(lambda: decode(data, limit, int(s.max_mb * 1e6)))
            return await self._off_loop(lambda: extract(audio))

    def transcriber(self) -> Transcriber:
        if self._transcriber is None:
            self._transcriber = self._make()
        return self._transcriber

    def _make(self) -> Transcriber:
        s = self.settings
        if s.engine == "openai":
            from anima.hearing.openai_stt import OpenAITranscriber

            backend = self._llm.backends.get(s.backend)
            if not isinstance(backend, OpenAIBackend):
                raise HearingError(f"stt.backend {s.backend!r} is not an openai backend under llm.backends")
            return OpenAITranscriber(backend, s.openai_model)
        from anima.hearing.whisper import WhisperTranscriber

        return WhisperTranscriber(s.model, self._resolve(s.models_dir), s.threads, self._off_loop)

    async def close(self) -> None:
        if self._transcriber is not None:
            await self._transcriber.close()
        self._pool.shutdown(wait=False, cancel_futures=True)


def heard_line(text: str) -> str:
    """The short echo of what was understood (stt.echo)."""
    shown = text if len(text) <= _ECHO_CHARS else text[: _ECHO_CHARS - 1] + "…"
    return HEARD.format(text=shown)


def apology(character_name: str, error: HearingError) -> str:
    """The in-character line for a voice message that could not be heard."""
    return f"🎤 {character_name} couldn't listen to your voice message: {str(error).rstrip('.')}."
