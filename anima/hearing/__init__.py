"""Voice in: `HearingService.hear(bytes) -> Transcript` (speech to text), and hum to song (`melody`).

`audio.decode` bounds and decodes what a person sent; engines (`whisper` offline, `openai` on any
OpenAI-compatible server) sit behind `engine.Transcriber`; `melody` turns a hummed tune into a score.
"""

from anima.hearing.audio import Audio, AudioTooLong, AudioUnreadable, NothingHeard
from anima.hearing.engine import Transcriber, Transcript
from anima.hearing.service import HearingService, apology, heard_line

__all__ = [
    "Audio",
    "AudioTooLong",
    "AudioUnreadable",
    "HearingService",
    "NothingHeard",
    "Transcriber",
    "Transcript",
    "apology",
    "heard_line",
]
