"""What adapters receive: a finished voice note, and whether a reply goes out as text, voice or both."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from anima.characters.card import CharacterCard


@dataclass(frozen=True)
class VoiceNote:
    """OGG/Opus, mono, 48 kHz: what Telegram's sendVoice and Discord's voice messages take as is."""

    ogg: bytes
    duration_s: float
    waveform_b64: str  # Discord's waveform: base64 of ≤ 256 one-byte amplitudes, at most one per 100 ms
    mime: Literal["audio/ogg"] = "audio/ogg"


@dataclass(frozen=True)
class Delivery:
    text: bool
    voice: bool


def delivery_for(card: CharacterCard, voice_on: bool) -> Delivery:
    """With voice off every reply is text; with it on, the card's voice.mode decides."""
    if not voice_on or card.voice.mode == "text":
        return Delivery(text=True, voice=False)
    return Delivery(text=card.voice.mode == "both", voice=True)
