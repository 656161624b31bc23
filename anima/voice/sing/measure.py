"""How well a rendering sings its score: pitch error in cents over voiced frames, onset error per note.

Pitch comes from WORLD's Harvest on the audio itself (the decoded voice note, in tests and the bench),
so what is measured is what a listener gets, not what the renderer meant to do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyworld
import soxr

from anima.voice.sing.score import Score, frequency

ANALYSIS_RATE = 16_000
FRAME_S = 0.005
ONSET_BAND_CENTS = 50.0  # a note has begun when the pitch is this close to it
ONSET_SEARCH_S = (0.08, 0.12)  # before and after the written start


@dataclass(frozen=True)
class Accuracy:
    median_cents: float  # median absolute pitch error over voiced frames inside sung notes
    voiced_frames: int
    onset_errors_s: tuple[float, ...]  # signed, one per note whose onset could be seen
    notes: int

    @property
    def median_onset_ms(self) -> float:
        return float(np.median(np.abs(self.onset_errors_s)) * 1000) if self.onset_errors_s else float("nan")

    @property
    def worst_onset_ms(self) -> float:
        return float(np.max(np.abs(self.onset_errors_s)) * 1000) if self.onset_errors_s else float("nan")


def accuracy(samples: np.ndarray, rate: int, score: Score, offset_s: float) -> Accuracy:
    """`offset_s`: where the score's time 0 falls in `samples`."""
    x = np.asarray(samples, dtype=np.float64)
    if rate != ANALYSIS_RATE:
        x = soxr.resample(x, rate, ANALYSIS_RATE)
    # Harvest's cost grows with its search range: search a fifth around the score's range only.
    pitches = [n.pitch for n in score.sung_notes if n.pitch is not None]
    floor, ceil = frequency(min(pitches) - 7), frequency(max(pitches) + 7)
    f0, t = pyworld.harvest(x, ANALYSIS_RATE, f0_floor=floor, f0_ceil=ceil, frame_period=FRAME_S * 1000)
    t = t - offset_s
    errors: list[np.ndarray] = []
    onsets: list[float] = []
    sung = score.sung_notes
    for note in sung:
        assert note.pitch is not None
        inside = (t >= note.start_s) & (t < note.end_s) & (f0 > 0)
        errors.append(np.abs(_cents(f0[inside], note.pitch)))
        onset = _onset(f0, t, note.pitch, note.start_s)
        if onset is not None:
            onsets.append(onset - note.start_s)
    deviations = np.concatenate(errors) if errors else np.zeros(0)
    median = float(np.median(deviations)) if len(deviations) else float("nan")
    return Accuracy(median, len(deviations), tuple(onsets), len(sung))


def _cents(f0: np.ndarray, pitch: int) -> np.ndarray:
    return 1200 * np.log2(f0 / (440.0 * 2 ** ((pitch - 69) / 12)))


def _onset(f0: np.ndarray, t: np.ndarray, pitch: int, start_s: float) -> float | None:
    """The frame nearest the written start where the voice arrives at the note: voicing begins on it, or
    the pitch enters its band. None where neither happens near the start (a repeated note sung legato)."""
    on = (f0 > 0) & (np.abs(_cents(np.where(f0 > 0, f0, 1.0), pitch)) <= ONSET_BAND_CENTS)
    arrives = np.flatnonzero(on[1:] & ~on[:-1]) + 1
    near = arrives[(t[arrives] >= start_s - ONSET_SEARCH_S[0]) & (t[arrives] <= start_s + ONSET_SEARCH_S[1])]
    if len(near) == 0:
        return None
    return float(t[near[np.argmin(np.abs(t[near] - start_s))]])
