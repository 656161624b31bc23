"""The pitch a singer aims at, frame by frame: the notes, short glides between them, vibrato on long ones."""

from __future__ import annotations

import itertools

import numpy as np

from anima.voice.sing.score import Note

FRAME_S = 0.005  # WORLD's frame period
PORTAMENTO_BEFORE_S = 0.035  # a glide into the next note starts this long before it…
PORTAMENTO_AFTER_S = 0.015  # …and lands this long after its start
VIBRATO_AFTER_S = 0.25  # notes longer than this get vibrato, fading in from here
VIBRATO_FADE_S = 0.2
VIBRATO_DEPTH = 0.2  # semitones either side (±20 cents: a light pop-singer vibrato)
VIBRATO_HZ = 5.5


def target_pitch(notes: list[Note], frames: int, offset_s: float) -> np.ndarray:
    """Fractional MIDI pitch per frame (NaN where nothing is sung); note times are shifted by `offset_s`."""
    pitch = np.full(frames, np.nan)
    times = np.arange(frames) * FRAME_S - offset_s
    sung = [n for n in notes if n.pitch is not None]
    for note in sung:
        assert note.pitch is not None
        inside = (times >= note.start_s) & (times < note.end_s)
        pitch[inside] = note.pitch + _vibrato(times[inside] - note.start_s, note.duration_s)
    # Before the first note and in each rest, hold the note next to it (consonants sung into a rest).
    pitch = _hold_edges(pitch)
    for before, after in itertools.pairwise(sung):
        if abs(after.start_s - before.end_s) > 1e-6:
            continue  # a rest between: no glide
        assert before.pitch is not None and after.pitch is not None
        start, end = after.start_s - PORTAMENTO_BEFORE_S, after.start_s + PORTAMENTO_AFTER_S
        glide = (times >= start) & (times < end)
        progress = (times[glide] - start) / (end - start)
        shape = 0.5 - 0.5 * np.cos(np.pi * progress)  # raised cosine: no corner at either end
        pitch[glide] = before.pitch + (after.pitch - before.pitch) * shape
    return pitch


def _vibrato(t: np.ndarray, duration: float) -> np.ndarray:
    if duration < VIBRATO_AFTER_S + VIBRATO_FADE_S:
        return np.zeros_like(t)
    fade = np.clip((t - VIBRATO_AFTER_S) / VIBRATO_FADE_S, 0.0, 1.0)
    fade *= np.clip((duration - t) / 0.05, 0.0, 1.0)  # back to the note before the next one
    return VIBRATO_DEPTH * fade * np.sin(2 * np.pi * VIBRATO_HZ * np.maximum(t - VIBRATO_AFTER_S, 0))


def _hold_edges(pitch: np.ndarray) -> np.ndarray:
    """Fill NaN runs with the next sung pitch (or the last one at the end)."""
    known = np.flatnonzero(~np.isnan(pitch))
    if len(known) == 0:
        return pitch
    filled = pitch.copy()
    following = np.searchsorted(known, np.arange(len(pitch)))
    following = np.minimum(following, len(known) - 1)
    missing = np.isnan(filled)
    filled[missing] = pitch[known[following[missing]]]
    return filled


def hertz(pitch: np.ndarray) -> np.ndarray:
    return 440.0 * 2 ** ((pitch - 69) / 12)
