"""The one interface every speech-to-text engine has: audio and the languages to expect in, text out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from anima.hearing.audio import Audio


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str  # what was heard, e.g. "en", "zh"
    duration_s: float  # of the audio
    engine: str  # "whisper base", "openai whisper-1"


class Transcriber(Protocol):
    name: str

    async def transcribe(self, audio: Audio, languages: Sequence[str]) -> Transcript:
        """The words in `audio`; `languages` are those to expect, the likeliest first (never empty)."""
        ...

    async def close(self) -> None: ...
