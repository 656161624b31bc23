"""Singing: a character sings a melody with lyrics in its own voice (`/sing`, `anima sing`).

`notation.parse` reads the chat notation, `files.read_score` MIDI and MusicXML; `Singer.sing` speaks
each syllable with the card's voice engine, then re-times and re-pitches it with the WORLD vocoder.
"""

from anima.voice.sing.notation import Request, parse
from anima.voice.sing.score import Note, Score, ScoreError, Syllable

__all__ = ["Note", "Request", "Score", "ScoreError", "Syllable", "parse"]
