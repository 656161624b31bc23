"""From what a person sent (notation, or a score file and its caption) to a score ready to sing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from anima.characters.card import CharacterCard
from anima.commands.singing.lyrics import write_lyrics
from anima.llm.router import LLMRouter
from anima.voice.sing.files import read_score
from anima.voice.sing.notation import backing as notation_backing
from anima.voice.sing.notation import parse, parse_settings
from anima.voice.sing.score import Score


@dataclass(frozen=True)
class Song:
    """A score ready to sing, and how."""

    score: Score
    backing: bool = False


async def score_for(
    text: str,
    card: CharacterCard,
    router: LLMRouter,
    file: tuple[bytes, str] | None = None,
    topic: str | None = None,
    transpose: int = 0,
    backing: bool = False,
) -> Song:
    """The score to sing: `text` is the notation, or with a `file` the settings and topic that go with it
    (`/sing transpose=-5 about the sea`). Lyrics are written by the card's LLM when the score has none and
    a topic is given; `transpose` moves it by that many semitones more; `backing` adds a backing track
    (so does backing=on in the text). Raises ScoreError (with what to fix) or LLMError."""
    if file is not None:
        data, name = file
        score = await asyncio.to_thread(read_score, data, name)  # parsing is blocking work
        options, words = parse_settings(text)
        score = score.transposed(int(float(options.get("transpose", 0))))  # checked: a number, ±24
    else:
        request = parse(text)
        score, words, options = request.score, request.topic, request.options
    score = score.transposed(transpose) if transpose else score
    topic = topic if topic is not None else words
    if not score.has_lyrics and topic:
        score.check(lyrics=False)  # a melody too big to sing gets no lyrics written for it
        score = await write_lyrics(router, card, score, topic)
    score.check()
    return Song(score, backing or notation_backing(options))
