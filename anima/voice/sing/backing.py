"""A simple backing track: a MIDI file's other parts, or chords that fit the melody, on a soft e-piano."""

from __future__ import annotations

import numpy as np

from anima.voice.sing.score import Note, Score, frequency

BEATS_PER_BAR = 4
# The key's major triads and minor ones, as semitones above the tonic, most used first.
_CHORDS = ((0, 4, 7), (7, 11, 14), (5, 9, 12), (9, 12, 16), (2, 5, 9), (4, 7, 11))
_PREFERENCE = (1.0, 0.9, 0.85, 0.7, 0.5, 0.4)


def accompaniment(score: Score, length: int, rate: int, offset_s: float) -> np.ndarray:
    """Blocking: `length` samples at `rate` with the score's time 0 at `offset_s`."""
    out = np.zeros(length, dtype=np.float64)
    for note in score.accompaniment or chords(score):
        if note.pitch is None:
            continue
        start = int((offset_s + note.start_s) * rate)
        if start >= length:
            continue
        # Only what fits before the end is rendered: a note held past the song costs nothing.
        duration = min(note.duration_s, (length - start) / rate)
        tone = _tone(frequency(note.pitch), duration, rate)[: length - start]
        out[start : start + len(tone)] += tone
    return out.astype(np.float32)


def chords(score: Score) -> list[Note]:
    """One chord a bar, the one of the key's six triads that best covers the melody's notes there, with
    its root in the bass; struck on the first and third beats."""
    bar_s = BEATS_PER_BAR * 60.0 / score.tempo
    notes: list[Note] = []
    bars = int(np.ceil(score.duration_s / bar_s))
    for bar in range(bars):
        start, end = bar * bar_s, (bar + 1) * bar_s
        weights = np.zeros(12)
        for note in score.sung_notes:
            overlap = min(note.end_s, end) - max(note.start_s, start)
            if overlap > 0 and note.pitch is not None:
                weights[(note.pitch - score.key) % 12] += overlap
        if not weights.any():
            continue
        fits = [
            sum(weights[p % 12] for p in chord) * pref
            for chord, pref in zip(_CHORDS, _PREFERENCE, strict=True)
        ]
        chord = _CHORDS[int(np.argmax(fits))]
        for strike in (start, start + bar_s / 2):
            length = bar_s / 2
            notes.append(Note(36 + score.key + chord[0] % 12, strike, length))  # bass
            notes += [Note(53 + score.key + p % 12, strike, length) for p in chord]
    return notes


def _tone(hz: float, duration_s: float, rate: int) -> np.ndarray:
    """Three harmonics under a struck envelope: quick attack, slow decay, short release."""
    release = 0.08
    t = np.arange(int((duration_s + release) * rate)) / rate
    wave = sum(
        a * np.sin(2 * np.pi * hz * k * t) for k, a in ((1, 1.0), (2, 0.35), (3, 0.12)) if hz * k < rate / 2
    )
    envelope = np.minimum(t / 0.01, 1.0) * np.exp(-t * 2.5)
    envelope *= np.clip((duration_s + release - t) / release, 0.0, 1.0)
    return 0.15 * wave * envelope
