"""`runtime.voice`: a card and a reply in, a voice note out; engines, cache and the bounded pool behind it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from anima.characters.card import CharacterCard
from anima.config import VoiceSettings
from anima.core.surface import VoiceNote
from anima.errors import VoiceError
from anima.ops.metrics import METRICS
from anima.voice.audio import finish
from anima.voice.cache import VoiceCache, cache_key
from anima.voice.engine import Engine, Segment, VoiceChoice
from anima.voice.text import base_language, script

log = logging.getLogger(__name__)

T = TypeVar("T")

AUDIO_VERSION = 1  # bump when the audio path changes, so cached notes are made afresh


class VoiceService:
    """Makes voice notes. At most `max_concurrency` at once; identical requests share one result."""

    def __init__(
        self, settings: VoiceSettings | None = None, resolve: Callable[[Path], Path] = lambda p: p
    ) -> None:
        self.settings = settings = settings or VoiceSettings()
        self._resolve = resolve
        self._pool = ThreadPoolExecutor(settings.max_concurrency, thread_name_prefix="voice")
        self._slots = asyncio.Semaphore(settings.max_concurrency)
        self._engines: dict[str, Engine] = {}
        self._in_flight: dict[str, asyncio.Future[VoiceNote]] = {}
        self.cache = VoiceCache(resolve(settings.cache_dir), int(settings.cache_max_mb * 1024 * 1024))
        self._warned: set[str] = set()

    async def _off_loop(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    def choice_for(self, card: CharacterCard) -> VoiceChoice:
        """The card's voice, on an enabled engine: a card asking for a disabled one gets the first enabled."""
        if not self.settings.engines:
            raise VoiceError("voice is off: config.yaml lists no voice.engines")
        wanted = card.voice
        language = base_language(wanted.language or card.language)
        if wanted.engine in self.settings.engines:
            return VoiceChoice(wanted.engine, wanted.voice, language, wanted.speed, wanted.pitch)
        engine = self.settings.engines[0]
        if card.id not in self._warned:
            self._warned.add(card.id)
            log.warning(
                "card %s asks for voice engine %s, which voice.engines does not enable; using %s",
                card.id, wanted.engine, engine,
            )  # fmt: skip
        return VoiceChoice(engine, None, language, wanted.speed, wanted.pitch)

    def engine(self, name: str) -> Engine:
        if name not in self._engines:
            self._engines[name] = self._make_engine(name)
        return self._engines[name]

    def _make_engine(self, name: str) -> Engine:
        if name == "espeak":
            from anima.voice.espeak_engine import EspeakEngine

            return EspeakEngine(self._off_loop)
        if name == "openai":
            from anima.voice.openai_engine import OpenAIEngine

            return OpenAIEngine(self.settings.openai, self._off_loop)
        if name == "piper":
            from anima.voice.piper_engine import PiperEngine

            voices = self._resolve(self.settings.piper.voices_dir)
            return PiperEngine(self.settings.piper, voices, self._off_loop)
        raise VoiceError(f"unknown voice engine {name!r}; known: espeak, openai, piper")

    async def speak(self, card: CharacterCard, text: str) -> VoiceNote:
        """The reply in the card's voice. Raises VoiceError (an AnimaError) when no note can be made."""
        choice = self.choice_for(card)
        segments = script(text, choice.language, self.settings.max_chars)
        if not segments:
            raise VoiceError("the reply has no words to speak")
        engine = self.engine(choice.engine)
        key = _key(engine, choice, segments)
        shared = self._in_flight.get(key)
        if shared is not None:
            return await asyncio.shield(shared)
        future: asyncio.Future[VoiceNote] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            started = time.perf_counter()
            note = await self._make(engine, choice, segments, key)
            METRICS.stage_since("voice", started)
            future.set_result(note)
            return note
        except BaseException as exc:
            future.set_exception(exc if isinstance(exc, Exception) else VoiceError("voice note cancelled"))
            future.exception()  # consumed here, so a future nobody else awaited logs nothing
            raise
        finally:
            del self._in_flight[key]

    async def _make(
        self, engine: Engine, choice: VoiceChoice, segments: list[Segment], key: str
    ) -> VoiceNote:
        async with self._slots:
            cached = await self._off_loop(lambda: self.cache.get(key))
            if cached is not None:
                return cached
            pcm = await engine.synthesize(segments, choice)

            def encode_and_store() -> VoiceNote:
                note = finish(pcm)
                self.cache.put(key, note)
                return note

            return await self._off_loop(encode_and_store)

    async def close(self) -> None:
        for engine in self._engines.values():
            await engine.close()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _key(engine: Engine, choice: VoiceChoice, segments: list[Segment]) -> str:
    spoken = [(s.text, s.language, s.pause_after_s) for s in segments]
    return cache_key(AUDIO_VERSION, engine.fingerprint(), choice, spoken)
