"""Voice fixtures: the repo's cards, a voice service whose cache lives in tmp_path, and a decoder."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from anima.characters.card import CharacterCard
from anima.characters.library import CharacterLibrary
from anima.config import VoiceSettings
from anima.voice import VoiceNote, VoiceService
from tests.conftest import REPO


@dataclass
class Decoded:
    container: str
    codec: str
    sample_rate: int
    channels: int
    duration_s: float
    samples: np.ndarray
    waveform: bytes

    @property
    def rms(self) -> float:
        return float(np.sqrt(np.mean(self.samples**2)))


def decode(note: VoiceNote) -> Decoded:
    """What a player sees: the OGG's own header and samples, decoded by libsndfile."""
    info = soundfile.info(io.BytesIO(note.ogg))
    samples, rate = soundfile.read(io.BytesIO(note.ogg), dtype="float32")
    return Decoded(
        info.format,
        info.subtype,
        rate,
        info.channels,
        info.duration,
        samples,
        base64.b64decode(note.waveform_b64),
    )


def card(card_id: str = "aiko", **voice: Any) -> CharacterCard:
    """A repo card, with its voice section changed by `voice`."""
    original = CharacterLibrary.load(REPO / "characters").get(card_id)
    changed = original.model_copy(update={"voice": original.voice.model_copy(update=voice)})
    changed.id = original.id
    return changed


@pytest.fixture
def voice_settings(tmp_path: Path) -> VoiceSettings:
    return VoiceSettings(cache_dir=tmp_path / "voice-cache", notes_dir=tmp_path / "voice-notes")


@pytest.fixture
async def voice(voice_settings: VoiceSettings) -> AsyncIterator[VoiceService]:
    service = VoiceService(voice_settings)
    yield service
    await service.close()
