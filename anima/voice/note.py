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
class ReplyForm:
    """Whether a reply goes out as text, as a voice note, or both."""

    text: bool
    voice: bool


def reply_form(card: CharacterCard, voice_on: bool) -> ReplyForm:
    """With voice off every reply is text; with it on, the card's voice.mode decides."""
    if not voice_on or card.voice.mode == "text":
        return ReplyForm(text=True, voice=False)
    return ReplyForm(text=card.voice.mode == "both", voice=True)
