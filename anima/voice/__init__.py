"""Voice notes in a character's own voice: `VoiceService.speak(card, text) -> VoiceNote`.

Engines (espeak, openai, piper) turn a script of segments into PCM; `text` makes that script from a
reply; `audio` turns PCM into a 48 kHz OGG/Opus note with its duration and Discord waveform.
"""

from anima.core.surface import VoiceNote
from anima.voice.service import VoiceService

__all__ = ["VoiceNote", "VoiceService"]
