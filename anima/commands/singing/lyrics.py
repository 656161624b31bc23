"""Lyrics for a melody, written by the character's LLM: one line per phrase, each with the syllables it needs.

Models miscount syllables often, so every answer is counted here and, when a line is off, sent back
with what to fix; after MAX_ATTEMPTS the request fails with a message the person can act on.
"""

from __future__ import annotations

import re
from dataclasses import replace

from anima.characters.card import CharacterCard
from anima.core.messages import ChatMessage
from anima.llm.router import LLMRouter
from anima.voice.sing.score import Score, ScoreError, Syllable
from anima.voice.sing.syllables import syllables
from anima.voice.text import base_language

MAX_ATTEMPTS = 3
MAX_TOKENS = 400
_NUMBERING = re.compile(r"^\s*(?:\d+[.)、:]|[-*•]|line \d+:?)\s*", re.I)


def lyric_language(card: CharacterCard) -> str:
    """Chinese for a card that speaks Chinese, else English (the two languages the singer knows)."""
    return "zh" if base_language(card.voice.language or card.language) == "zh" else "en"


def _instructions(card: CharacterCard, topic: str, counts: list[int], language: str) -> str:
    unit = "Chinese characters (one character is one syllable)" if language == "zh" else "syllables"
    tongue = "Chinese" if language == "zh" else "English"
    lines = "\n".join(f"Line {i}: exactly {n} {unit}" for i, n in enumerate(counts, 1))
    return (
        f"You are {card.name}. Write song lyrics in {tongue} about: {topic or 'anything you like'}.\n"
        f"The melody has {len(counts)} phrases, so write exactly {len(counts)} lines:\n{lines}\n"
        "Reply with the lines only, one per line: no title, no numbering, no notes."
    )


def _lines(answer: str) -> list[str]:
    found = [_NUMBERING.sub("", line).strip().strip("\"'“”「」") for line in answer.splitlines()]
    return [line for line in found if line and syllables(line)]


def _problems(lines: list[str], counts: list[int]) -> list[str]:
    if len(lines) != len(counts):
        return [f"you wrote {len(lines)} lines, but the melody needs exactly {len(counts)}"]
    problems = []
    for i, (line, wanted) in enumerate(zip(lines, counts, strict=True), 1):
        found = [s for s in syllables(line) if s is not None]
        if len(found) != wanted:
            split = " ".join(s.text for s in found)
            problems.append(f"line {i} ({split}) has {len(found)} syllables but needs exactly {wanted}")
    return problems


async def write_lyrics(router: LLMRouter, card: CharacterCard, score: Score, topic: str) -> Score:
    """`score` with lyrics about `topic` by the card's LLM. Raises ScoreError when none fit after
    MAX_ATTEMPTS tries, LLMError when the model cannot be reached."""
    phrases = score.phrases()
    if not phrases:
        raise ScoreError("the melody has no notes to write lyrics for")
    counts = [len(p) for p in phrases]
    language = lyric_language(card)
    backend = router.chain(card)[0]
    messages = [ChatMessage("user", _instructions(card, topic, counts, language))]
    problems: list[str] = []
    for _ in range(MAX_ATTEMPTS):
        request = router.request(backend, card, messages, stop=[])
        request = replace(request, max_tokens=min(request.max_tokens, MAX_TOKENS))
        pieces: list[str] = []

        async def collect(piece: str, pieces: list[str] = pieces) -> None:
            pieces.append(piece)

        await router.generate(backend, request, collect)
        answer = "".join(pieces)
        lines = _lines(answer)
        problems = _problems(lines, counts)
        if not problems:
            sung: list[Syllable | None] = [s for line in lines for s in syllables(line) if s is not None]
            return score.with_syllables(sung)
        messages += [
            ChatMessage("assistant", answer),
            ChatMessage("user", "Not quite: " + "; ".join(problems) + ". Write all the lines again."),
        ]
    raise ScoreError(
        f"{card.name} could not fit lyrics to this melody in {MAX_ATTEMPTS} tries ({problems[0]}). "
        "Try again, or write the lyrics yourself under the notes."
    )
