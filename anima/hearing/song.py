"""From a hummed recording and lyrics to a score ready to sing, and the notation of what was heard.

Lyrics rarely have as many syllables as the tune has notes. With fewer syllables, some syllables are
held over several notes (melisma; every phrase still starts on a syllable); with more, the longest
notes are split into repeated notes. What was done is said, so the person can fix either side.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from anima.voice.sing.score import MAX_SONG_S, NOTE_NAMES, Note, Score, ScoreError, Syllable, note_name
from anima.voice.sing.syllables import HOLD, syllables

if TYPE_CHECKING:  # pyworld (under melody) is loaded only when a tune is heard
    from anima.hearing.melody import Melody

MIN_SPLIT_S = 0.12  # a note is split into two only while both halves last this long


@dataclass(frozen=True)
class Fitted:
    score: Score  # with a syllable (or a hold) on every sung note
    notice: str  # "" when the lyrics fitted as they were


def fit_lyrics(score: Score, lyrics: str) -> Fitted:
    """`score`'s notes sung with `lyrics`. Raises ScoreError when there are no words, or far more
    syllables than the tune can be split to carry."""
    sung = syllables(lyrics)
    words = [s for s in sung if s is not None]
    if not words:
        raise ScoreError("the lyrics have no words to sing: write them after /sing, e.g. /sing la la la")
    if sung[0] is None:
        sung = sung[1:]
    notes = len(score.sung_notes)
    if len(sung) == notes:
        return Fitted(score.with_syllables(sung), "")
    if len(sung) < notes:
        return Fitted(score.with_syllables(_melisma(score, sung)), _said(len(words), notes, "melisma"))
    split = _split(score, len(sung))
    return Fitted(split.with_syllables(sung), _said(len(words), notes, "split"))


def _said(syllable_count: int, notes: int, how: str) -> str:
    if how == "melisma":
        held = notes - syllable_count
        holds = "notes hold" if held != 1 else "note holds"
        return f"{syllable_count} syllables on {notes} notes: {held} {holds} the syllable before (melisma)"
    extra = syllable_count - notes
    return (
        f"{syllable_count} syllables on {notes} notes: {extra} note{'s' * (extra != 1)} split "
        "into repeated notes"
    )


def _melisma(score: Score, sung: list[Syllable | None]) -> list[Syllable | None]:
    """Which notes start a syllable: the syllables shared among the phrases by their number of notes
    (each phrase starts on one), then spread evenly inside each phrase; the other notes hold."""
    lengths = [len(phrase) for phrase in score.phrases()]
    if len(sung) < len(lengths):  # fewer syllables than phrases: the lyrics go round again
        sung = [sung[i % len(sung)] for i in range(len(lengths))]
    total = sum(lengths)
    shares = [1] * len(lengths)
    for _ in range(len(sung) - len(lengths)):  # each next syllable to the phrase most short of its share
        wanting = [
            len(sung) * n / total - share if share < n else -1.0
            for n, share in zip(lengths, shares, strict=True)
        ]
        shares[wanting.index(max(wanting))] += 1
    starts: list[bool] = []
    for notes, share in zip(lengths, shares, strict=True):
        chosen = {round(k * notes / share) for k in range(share)}
        starts += [i in chosen for i in range(notes)]
    given = iter(sung)
    return [next(given) if start else None for start in starts]


def _split(score: Score, wanted: int) -> Score:
    """The score with its longest notes halved (repeated notes) until it has `wanted` sung notes."""
    notes = list(score.notes)
    while sum(n.pitch is not None for n in notes) < wanted:
        longest = max(
            (i for i, n in enumerate(notes) if n.pitch is not None), key=lambda i: notes[i].duration_s
        )
        note = notes[longest]
        half = note.duration_s / 2
        if half < MIN_SPLIT_S:
            raise ScoreError(
                f"{wanted} syllables are too many for this tune of {len(score.sung_notes)} notes: "
                "shorten the lyrics, or hum more notes"
            )
        notes[longest : longest + 1] = [
            replace(note, duration_s=half),
            replace(note, start_s=note.start_s + half, duration_s=half),
        ]
    return replace(score, notes=tuple(notes))


def notation(score: Score) -> str:
    """The score in the chat notation of /sing, so a person can read it, correct it and sing that."""
    beat = 60 / score.tempo
    parts = [f"tempo={score.tempo:g} key={NOTE_NAMES[score.key]}"]
    parts.append(" ".join(_note(n, beat) for n in score.notes))
    if score.has_lyrics:
        parts.append(_lyrics(score))
    return " | ".join(parts)


def _note(note: Note, beat: float) -> str:
    name = "R" if note.pitch is None else note_name(note.pitch)
    return name + _length(note.duration_s / beat)


def _length(beats: float) -> str:
    if abs(beats - 1) < 0.02:
        return ""
    inverse = 1 / beats
    if beats < 1 and abs(inverse - round(inverse)) < 0.02:
        return f"/{round(inverse)}"
    return f"*{round(beats, 3):g}"


def _lyrics(score: Score) -> str:
    tokens: list[str] = []
    for note in score.sung_notes:
        syllable = note.syllable
        if syllable is None:
            tokens.append(HOLD)
        elif syllable.joined and tokens and tokens[-1] != HOLD:
            tokens[-1] += "-" + syllable.text
        else:
            tokens.append(syllable.text)
    return " ".join(tokens)


def describe(melody: Melody) -> str:
    """One line on what was heard: notes, tempo, key, tuning."""
    score = melody.score
    rhythm = "on a beat grid" if melody.on_grid else "in free rhythm (times as hummed)"
    return (
        f"{len(score.sung_notes)} notes over {score.duration_s:.1f} s, {rhythm}, {score.tempo:g} beats a "
        f"minute, key of {NOTE_NAMES[score.key]} major, hummed {melody.tuning_cents:+.0f} cents from A=440"
    )


MAX_HUM_S = MAX_SONG_S  # a hum longer than a song could be sung is refused before it is analysed
