"""Hum to song: the tune in a recording as notes on semitones in a key, with a tempo — a `Score`.

1. Pitch: WORLD's DIO refined by StoneMask (Harvest is steadier but ~40x slower: 16 s of CPU for a
   minute), every 10 ms, kept where the frame is loud enough to be the hum and not the room.
2. Notes: the tuning (a hummer's own A) is taken out, then a Viterbi path over semitone states and
   silence, where changing state costs more than a vibrato or a slide is worth; short blips go.
3. Time: a grid that every onset sits on (the coarsest that fits within 35 ms) gives the beat and
   the tempo; onsets and note ends are put on it, so what is printed is what is sung.
4. Key: the major key whose scale holds the notes (Krumhansl–Kessler profile between equals); a note
   out of the key that was hummed leaning towards a note of the key is moved onto it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pyworld

from anima.hearing.audio import Audio, NothingHeard
from anima.voice.sing.score import HIGHEST, LOWEST, Note, Score

FRAME_S = 0.01
LOW_HZ, HIGH_HZ = 60.0, 1100.0  # B1–C#6: below and above what a re-pitched voice carries anyway
GATE_DB = 30.0  # frames this far under the loud part of the hum are silence
DIP = 0.35  # a frame this much quieter than its surroundings separates two notes ("mm-mm")
SWITCH_COST = 4.0  # in semitones² per frame: what a change of note costs on the path
ERROR_CAP = 4.0  # a frame's cost for being on the wrong note is at most this (octave slips)
SILENCE_COST = 1.5  # a voiced frame on the silence state, or a quiet frame on a note
MIN_NOTE_S = 0.08
GRID_FIT_S = 0.035  # every onset within this of the grid
BEAT_S = (60 / 180, 60 / 60)  # the beat lies between 180 and 60 beats a minute
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])


@dataclass(frozen=True)
class HeardNote:
    """A note as hummed: seconds from the start of the recording, and how far off the semitone it was."""

    pitch: int
    start_s: float
    duration_s: float
    cents: float  # hummed minus `pitch` (tuning taken out), −50…50 unless moved into the key

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True)
class Melody:
    notes: tuple[HeardNote, ...]
    score: Score  # the notes on the grid from time 0, rests between, no lyrics yet
    tuning_cents: float  # the hummer's A against 440 Hz
    beat_s: float
    on_grid: bool  # False: no grid fitted (free rhythm), the times are as hummed

    @property
    def tempo(self) -> float:
        return self.score.tempo


def extract(audio: Audio) -> Melody:
    """Blocking: the melody hummed in `audio`. Raises NothingHeard when no tune is found in it."""
    pitch, voiced = _track(audio)
    if voiced.sum() * FRAME_S < MIN_NOTE_S:
        raise NothingHeard("no tune could be heard in it: hum or sing a melody, one note at a time")
    tuning = 0.0
    for _ in range(2):  # the tuning is where the notes sit, so it is taken from a first pass over them
        notes = _notes(_viterbi(pitch - tuning / 100, voiced), pitch - tuning / 100, voiced)
        if not notes:
            raise NothingHeard("no tune could be heard in it: hold each note a little longer")
        tuning = _tuning(notes, tuning)
    key = _key(notes)
    notes = [_into_key(n, key) for n in notes]
    beat, grid, on_grid = _grid([n.start_s - notes[0].start_s for n in notes])
    return Melody(tuple(notes), _score(notes, beat, grid, on_grid, key), tuning, beat, on_grid)


def _track(audio: Audio) -> tuple[np.ndarray, np.ndarray]:
    """Pitch per frame as a MIDI number (0 where none), and whether the frame is part of the hum."""
    x = audio.samples.astype(np.float64)
    f0, t = pyworld.dio(x, audio.sample_rate, f0_floor=LOW_HZ, f0_ceil=HIGH_HZ, frame_period=FRAME_S * 1000)
    f0 = pyworld.stonemask(x, f0, t, audio.sample_rate)
    hop = int(FRAME_S * audio.sample_rate)
    level = _frame_rms(audio.samples, hop, len(f0))
    loud = level >= np.percentile(level, 95) * 10 ** (-GATE_DB / 20)
    # A dip: quieter than DIP times the loudest frame within 100 ms on both sides.
    span = int(0.1 / FRAME_S)
    padded = np.pad(level, span, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, span + 1)
    left, right = windows[: len(level)].max(axis=1), windows[span : span + len(level)].max(axis=1)
    dip = level < DIP * np.minimum(left, right)
    voiced = (f0 > 0) & loud & ~dip
    pitch = np.where(f0 > 0, 69 + 12 * np.log2(np.where(f0 > 0, f0, 1.0) / 440.0), 0.0)
    return pitch, voiced


def _frame_rms(samples: np.ndarray, hop: int, frames: int) -> np.ndarray:
    """RMS over 30 ms around each frame's centre."""
    half = int(1.5 * hop)
    padded = np.pad(samples.astype(np.float64) ** 2, half)
    cumulative = np.concatenate([[0.0], np.cumsum(padded)])
    centres = np.arange(frames) * hop + half
    lo, hi = np.clip(centres - half, 0, len(padded)), np.clip(centres + half, 0, len(padded))
    return np.sqrt((cumulative[hi] - cumulative[lo]) / np.maximum(hi - lo, 1))


def _tuning(notes: list[HeardNote], before: float) -> float:
    """The hummer's offset from A = 440 Hz in cents: the circular mean of where the notes sit in their
    semitones, by duration (of the notes, not the frames: a wide vibrato would pull frames apart)."""
    weights = np.array([n.duration_s for n in notes])
    angle = 2 * np.pi * np.array([(before + n.cents) / 100 for n in notes])
    offset = math.atan2(float((weights * np.sin(angle)).sum()), float((weights * np.cos(angle)).sum()))
    return round(offset / (2 * np.pi) * 100, 1)


def _viterbi(pitch: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """Per frame: 0 for silence, else the MIDI note; the cheapest path where a change costs SWITCH_COST."""
    states = np.arange(LOWEST, HIGHEST + 1)
    notes = np.minimum((pitch[:, None] - states[None, :]) ** 2, ERROR_CAP)
    notes[~voiced] = SILENCE_COST
    silence = np.where(voiced, SILENCE_COST, 0.0)[:, None]
    cost = np.hstack([silence, notes])  # frames × (1 + notes)
    frames, count = cost.shape
    back = np.zeros((frames, count), dtype=np.int32)
    total = cost[0].copy()
    for i in range(1, frames):
        best = int(np.argmin(total))
        switch = total[best] + SWITCH_COST
        stay = total <= switch
        back[i] = np.where(stay, np.arange(count), best)
        total = np.where(stay, total, switch) + cost[i]
    path = np.zeros(frames, dtype=np.int32)
    path[-1] = int(np.argmin(total))
    for i in range(frames - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return np.where(path > 0, states[np.maximum(path - 1, 0)], 0)


def _notes(path: np.ndarray, pitch: np.ndarray, voiced: np.ndarray) -> list[HeardNote]:
    """Runs of one note on the path; runs shorter than MIN_NOTE_S join the note before them when they
    touch it (the end of a slide), else they are dropped."""
    edges = np.flatnonzero(np.diff(path) != 0) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [len(path)]])
    notes: list[HeardNote] = []
    for start, end in zip(starts, ends, strict=True):
        state = int(path[start])
        if state == 0:
            continue
        length = (end - start) * FRAME_S
        if length < MIN_NOTE_S:
            if notes and abs(notes[-1].end_s - start * FRAME_S) < FRAME_S / 2:
                last = notes[-1]
                notes[-1] = HeardNote(last.pitch, last.start_s, last.duration_s + length, last.cents)
            continue
        inner = slice(start + (end - start) // 5, end - (end - start) // 5)
        frames = pitch[inner][voiced[inner]]
        cents = float(np.median(frames - state) * 100) if len(frames) else 0.0
        notes.append(HeardNote(state, start * FRAME_S, length, round(cents, 1)))
    return notes


def _key(notes: list[HeardNote]) -> int:
    """The tonic's pitch class of the major key whose scale holds most of the tune (by duration), the
    Krumhansl–Kessler profile deciding between keys that hold as much."""
    weights = np.zeros(12)
    for note in notes:
        weights[note.pitch % 12] += note.duration_s

    def fit(tonic: int) -> tuple[float, float]:
        inside = sum(weights[(tonic + degree) % 12] for degree in _MAJOR) / max(weights.sum(), 1e-9)
        profile = float(np.corrcoef(weights, np.roll(_PROFILE, tonic))[0, 1]) if weights.std() else 0.0
        return round(inside, 2), profile

    return max(range(12), key=fit)


def _into_key(note: HeardNote, key: int) -> HeardNote:
    """A note outside the key, hummed more than 30 cents towards a note of the key, is that note."""
    degree = (note.pitch - key) % 12
    if degree in _MAJOR or abs(note.cents) <= 30:
        return note
    step = 1 if note.cents > 0 else -1
    if (degree + step) % 12 not in _MAJOR:
        return note
    return HeardNote(note.pitch + step, note.start_s, note.duration_s, note.cents - 100 * step)


def _grid(onsets: list[float]) -> tuple[float, float, bool]:
    """(beat, grid step, whether the onsets fit it): the coarsest step that every onset sits on."""
    gaps = [b - a for a, b in itertools.pairwise(onsets) if b - a > 0.05]
    if not gaps:
        return 0.6, 0.6, False
    candidates = sorted(
        {gap / k for gap in gaps for k in (1, 2, 3, 4) if 0.08 <= gap / k <= 1.5}, reverse=True
    )
    times = np.array(onsets)
    for step in candidates:
        units = np.round(times / step)
        if units[-1] > 0:  # least squares over all onsets, the first one's own error included
            step = float(np.polyfit(units, times, 1)[0])
        if _misfit(times, units, step) <= GRID_FIT_S:
            beat, step = _round_tempo(times, units, _beat_for(step), step)
            return beat, step, True
    median = float(np.median(gaps))
    return _beat_for(median), median, False


def _misfit(times: np.ndarray, units: np.ndarray, step: float) -> float:
    """The worst onset's distance from the grid, the grid placed where it fits best."""
    residual = times - units * step
    return float(np.abs(residual - residual.mean()).max())


def _beat_for(step: float) -> float:
    """The beat: the grid step doubled or halved into 60–180 beats a minute, nearest 100 (a tune
    heard in eighths at 80 is written at 80, not in quarters at 160)."""
    beats = [step * 2.0**k for k in range(-4, 5) if BEAT_S[0] <= step * 2.0**k <= BEAT_S[1]]
    if not beats:
        return min(max(step, BEAT_S[0]), BEAT_S[1])
    return min(beats, key=lambda beat: abs(math.log(beat / 0.6)))


def _round_tempo(times: np.ndarray, units: np.ndarray, beat: float, grid: float) -> tuple[float, float]:
    """(beat, grid) at a whole number of beats a minute when the onsets still fit, else at a tenth."""
    for digits in (0, 1):
        tempo = round(60 / beat, digits)
        step = grid * (60 / tempo) / beat
        if _misfit(times, units, step) <= GRID_FIT_S:
            return 60 / tempo, step
    return beat, grid


def _score(notes: list[HeardNote], beat: float, grid: float, on_grid: bool, key: int) -> Score:
    """The notes from time 0: on the grid when it fits (a note lasts to the next onset unless a rest
    of at least half a step comes between), else at the times hummed."""
    first = notes[0].start_s
    placed: list[Note] = []

    def at(seconds: float) -> float:
        return round((seconds - first) / grid) * grid if on_grid else seconds - first

    for i, note in enumerate(notes):
        start = at(note.start_s)
        following = at(notes[i + 1].start_s) if i + 1 < len(notes) else None
        end = max(at(note.end_s), start + (grid if on_grid else MIN_NOTE_S))
        if following is not None and (following - end < grid / 2 or (not on_grid and following - end < 0.05)):
            end = following
        if following is not None:
            end = min(end, following)
        if placed and start - placed[-1].end_s > 1e-6:
            placed.append(Note(None, placed[-1].end_s, start - placed[-1].end_s))
        placed.append(Note(note.pitch, start, end - start))
    return Score(tuple(placed), tempo=round(60 / beat, 1), key=key)
