"""The one interface every speech engine has: a script of segments and a voice choice in, PCM out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

T = TypeVar("T")

# Runs blocking work on the voice pool, off the event loop: engines never block it themselves.
OffLoop = Callable[[Callable[[], T]], Awaitable[T]]


@dataclass(frozen=True)
class Segment:
    """A stretch of text in one language, then a pause (a sentence gap or a stage direction)."""

    text: str
    language: str
    pause_after_s: float = 0.0


@dataclass(frozen=True)
class VoiceChoice:
    """A card's voice with the config's defaults filled in: everything an engine needs to know."""

    engine: str
    voice: str | None  # the engine's own voice name; None: the engine's default for the language
    language: str  # the card's main language, e.g. "en", "zh"
    speed: float = 1.0
    pitch: float = 1.0


@dataclass
class Pcm:
    """Mono float32 samples in [-1, 1]."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


class Engine(Protocol):
    name: str

    async def synthesize(self, script: Sequence[Segment], choice: VoiceChoice) -> Pcm: ...

    def fingerprint(self) -> str:
        """What besides the script and choice changes the audio (model, server): part of the cache key."""
        ...

    async def close(self) -> None: ...


class LocalEngine:
    """An engine that renders segment by segment in-process; the whole render runs on the voice pool."""

    name = "local"

    def __init__(self, off_loop: OffLoop[Pcm]) -> None:
        self._off_loop = off_loop

    async def synthesize(self, script: Sequence[Segment], choice: VoiceChoice) -> Pcm:
        return await self._off_loop(lambda: self.render(script, choice))

    def render(self, script: Sequence[Segment], choice: VoiceChoice) -> Pcm:
        parts: list[np.ndarray] = []
        rate = 0
        for i, segment in enumerate(script):
            pcm = self.speak(segment.text, segment.language, choice)
            rate = pcm.sample_rate
            parts.append(pcm.samples)
            if i < len(script) - 1:
                parts.append(np.zeros(int(segment.pause_after_s * rate), dtype=np.float32))
        if not parts:
            return Pcm(np.zeros(0, dtype=np.float32), rate or 48000)
        return Pcm(np.concatenate(parts).astype(np.float32, copy=False), rate)

    def speak(self, text: str, language: str, choice: VoiceChoice) -> Pcm:
        """Blocking: one segment's audio."""
        raise NotImplementedError

    def fingerprint(self) -> str:
        return self.name

    async def close(self) -> None:
        return None
