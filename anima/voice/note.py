"""What adapters receive: a finished voice note."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class VoiceNote:
    """OGG/Opus, mono, 48 kHz: what Telegram's sendVoice and Discord's voice messages take as is."""

    ogg: bytes
    duration_s: float
    waveform_b64: str  # Discord's waveform: base64 of ≤ 256 one-byte amplitudes, at most one per 100 ms
    mime: Literal["audio/ogg"] = "audio/ogg"
