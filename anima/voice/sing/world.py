"""Spoken syllables to a sung line with the WORLD vocoder (pyworld): analyse, re-time, re-pitch, resynthesise.

Each syllable is analysed once into F0, spectral envelope and aperiodicity. On the song's timeline its
consonant comes just before the note (the vowel starts on the beat, as singers do), its voiced core is
stretched over the note(s) and its ending closes the last one. The song's own pitch contour replaces
the spoken F0, and one synthesis over the whole timeline gives continuous phase, with short parameter
crossfades where syllables meet.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from anima.voice.sing.contour import FRAME_S, hertz, target_pitch
from anima.voice.sing.score import Score, Sung

WORK_RATE = 24_000
FRAME_MS = FRAME_S * 1000
LEAD_S = 0.2  # silence before the first note: room for its consonant
TAIL_S = 0.25
MAX_CONSONANT_S = 0.12  # a consonant longer than this is squeezed, so it does not eat the note before
MAX_ENDING_S = 0.08
BREATH_S = 0.03  # a syllable before a rest stops this early
CROSSFADE = 3  # frames of parameter crossfade where two syllables meet
_SILENCE_DB = 40.0  # trimmed: blocks this far below the loudest


@dataclass(frozen=True)
class Sound:
    """One spoken syllable, analysed: frames [0, core_start) are its onset, [core_end, n) its ending."""

    f0: np.ndarray
    sp: np.ndarray
    ap: np.ndarray
    core_start: int
    core_end: int

    @property
    def frames(self) -> int:
        return len(self.f0)


def analyse(samples: np.ndarray, rate: int, parts: int = 1) -> list[Sound] | None:
    """Blocking: the speech analysed and cut into `parts` syllables. None when it is not audible.

    A word of several syllables is spoken whole (spoken alone, "kle" of "twinkle" would be read as
    "klee") and cut at the quietest frame between its loudest voiced frames, so a stop's silent
    closure ends one syllable and its burst starts the next.
    """
    import pyworld  # loaded with the first song, not with every runtime (a text-only chat never sings)
    import soxr

    x = np.asarray(samples, dtype=np.float64)
    if rate != WORK_RATE:
        x = soxr.resample(x, rate, WORK_RATE)
    x = _trim(x)
    if len(x) < WORK_RATE * 0.03:
        return None
    f0, t = pyworld.dio(x, WORK_RATE, f0_floor=60.0, f0_ceil=600.0, frame_period=FRAME_MS)
    f0 = pyworld.stonemask(x, f0, t, WORK_RATE)
    sp = pyworld.cheaptrick(x, f0, t, WORK_RATE)
    ap = pyworld.d4c(x, f0, t, WORK_RATE)
    cuts = [0, *_cuts(f0, sp, parts), len(f0)]
    if any(b - a < 2 for a, b in itertools.pairwise(cuts)):
        return None  # too short to hold that many syllables
    sounds = []
    for a, b in itertools.pairwise(cuts):
        start, end = _voiced_core(f0[a:b])
        # float32 halves what the analysis cache holds; the timeline sums in float64
        sounds.append(Sound(f0[a:b], sp[a:b].astype(np.float32), ap[a:b].astype(np.float32), start, end))
    return sounds


def _cuts(f0: np.ndarray, sp: np.ndarray, parts: int) -> list[int]:
    """Frames where the syllables of a word meet: one nucleus (an energy peak on voiced frames, at least
    40 ms from the others) per syllable, and between two nuclei the least energy."""
    if parts <= 1:
        return []
    energy = np.convolve(np.log(sp.sum(axis=1) + 1e-12), np.ones(3) / 3, mode="same")
    voiced = np.flatnonzero(f0 > 0)
    peaks = [
        i
        for i in voiced
        if 0 < i < len(energy) - 1 and energy[i] >= energy[i - 1] and energy[i] >= energy[i + 1]
    ]
    nuclei: list[int] = []
    for i in sorted(peaks, key=lambda i: -energy[i]):
        if all(abs(i - n) >= 8 for n in nuclei):
            nuclei.append(int(i))
        if len(nuclei) == parts:
            break
    if len(nuclei) < parts:  # fewer vowels heard than written: cut the word evenly
        return [round(len(f0) * k / parts) for k in range(1, parts)]
    nuclei.sort()
    return [a + 1 + int(np.argmin(energy[a + 1 : b])) for a, b in itertools.pairwise(nuclei)]


def _trim(x: np.ndarray) -> np.ndarray:
    block = int(0.01 * WORK_RATE)
    count = len(x) // block
    if count == 0:
        return x
    rms = np.sqrt(np.mean(x[: count * block].reshape(count, block) ** 2, axis=1))
    loud = np.flatnonzero(rms >= rms.max() * 10 ** (-_SILENCE_DB / 20))
    if len(loud) == 0 or rms.max() <= 1e-6:
        return x[:0]
    return x[max(loud[0] - 1, 0) * block : min(loud[-1] + 2, count) * block]


def _voiced_core(f0: np.ndarray) -> tuple[int, int]:
    """The longest voiced run (gaps of up to 3 frames bridged): the vowel that is held."""
    voiced = f0 > 0
    if not voiced.any():  # a whispered or unvoiced syllable: hold its middle
        n = len(f0)
        return n // 3, max(n // 3 + 1, 2 * n // 3)
    runs: list[list[int]] = []
    for i in np.flatnonzero(voiced):
        if runs and i - runs[-1][1] <= 4:
            runs[-1][1] = int(i) + 1
        else:
            runs.append([int(i), int(i) + 1])
    start, end = max(runs, key=lambda r: r[1] - r[0])
    return start, end


@dataclass
class _Timeline:
    """Weighted sums of WORLD parameters per output frame; a frame nobody wrote stays silent."""

    sp: np.ndarray
    ap: np.ndarray
    voiced: np.ndarray  # weight of voiced sources
    weight: np.ndarray

    @classmethod
    def empty(cls, frames: int, bins: int) -> _Timeline:
        return cls(np.zeros((frames, bins)), np.zeros((frames, bins)), np.zeros(frames), np.zeros(frames))

    def write(self, at: int, sound: Sound, source: np.ndarray, voiced: np.ndarray, held: np.ndarray) -> None:
        """Put `sound`'s frames (fractional indices `source`) at output frames from `at`, faded in and out
        over CROSSFADE frames so that a neighbour written over the same frames blends in. `held` frames
        are the sung vowel: no noisier than its typical frame, so breath left from a consonant (the
        aspiration after the t of "to") does not delay the note."""
        at_end = min(at + len(source), len(self.weight))
        if at < 0 or at_end <= at:
            return
        source, voiced, held = source[: at_end - at], voiced[: at_end - at], held[: at_end - at]
        low = np.clip(np.floor(source).astype(int), 0, sound.frames - 1)
        high = np.minimum(low + 1, sound.frames - 1)
        w = np.clip(source - low, 0.0, 1.0)[:, None]
        fade = np.ones(len(source))
        n = min(CROSSFADE, len(fade) // 2)
        if n:
            ramp = np.linspace(0.0, 1.0, n + 2)[1:-1]
            fade[:n] = ramp
            fade[-n:] = ramp[::-1]
        self.sp[at:at_end] += fade[:, None] * ((1 - w) * sound.sp[low] + w * sound.sp[high])
        ap = (1 - w) * sound.ap[low] + w * sound.ap[high]
        vowel = np.median(sound.ap[sound.core_start : sound.core_end], axis=0)
        ap[held] = np.minimum(ap[held], vowel)
        self.ap[at:at_end] += fade[:, None] * ap
        self.voiced[at:at_end] += fade * voiced
        self.weight[at:at_end] += fade


def render(score: Score, sounds: Sequence[Sound]) -> np.ndarray:
    """Blocking: the sung melody at WORK_RATE, with LEAD_S of silence before the first note; `sounds`
    has one Sound for each of `score.sung()`."""
    import pyworld

    frames = int((LEAD_S + score.duration_s + TAIL_S) / FRAME_S) + 1
    bins = pyworld.get_cheaptrick_fft_size(WORK_RATE) // 2 + 1
    line = _Timeline.empty(frames, bins)
    groups = score.sung()
    onsets = [_onset_s(sounds[i], g, groups[i - 1] if i else None) for i, g in enumerate(groups)]
    for i, group in enumerate(groups):
        sound = sounds[i]
        follows = groups[i + 1] if i + 1 < len(groups) else None
        legato = follows is not None and abs(follows.start_s - group.end_s) < 1e-6
        end_s = group.end_s - (onsets[i + 1] if legato else BREATH_S)
        _place(line, sound, group.start_s, onsets[i], end_s)
    return _synthesise(line, score)


def _onset_s(sound: Sound, group: Sung, before: Sung | None) -> float:
    """How long before its note a syllable's consonant starts."""
    onset = sound.core_start * FRAME_S
    room = MAX_CONSONANT_S
    if before is not None and abs(before.end_s - group.start_s) < 1e-6:
        room = min(room, 0.4 * before.notes[-1].duration_s)  # never more than 40 % of the note before
    return min(onset, room)


def _place(line: _Timeline, sound: Sound, start_s: float, onset_s: float, end_s: float) -> None:
    """Onset in [start - onset, start), core stretched to fill, ending squeezed into the last part; the
    whole syllable runs CROSSFADE frames on, into whatever follows."""
    first = _frame(start_s - onset_s)
    core_at = _frame(start_s)
    last = max(_frame(end_s), core_at + 2)
    ending = min(sound.frames - sound.core_end, int(MAX_ENDING_S / FRAME_S), (last - core_at) // 3)
    core_until = last - ending
    parts = [
        (np.linspace(0, sound.core_start, core_at - first, endpoint=False), False),
        (np.linspace(sound.core_start, sound.core_end - 1, core_until - core_at), True),
        (np.linspace(sound.core_end, sound.frames - 1, ending), False),
        (np.full(CROSSFADE, sound.frames - 1.0), False),
    ]
    source = np.concatenate([p for p, _ in parts])
    natural = sound.f0[np.rint(source).astype(int).clip(0, sound.frames - 1)] > 0
    held = np.concatenate([np.full(len(p), core) for p, core in parts])
    line.write(first, sound, source, natural | held, held)


def _frame(seconds: float) -> int:
    return round((LEAD_S + seconds) / FRAME_S)


def _synthesise(line: _Timeline, score: Score) -> np.ndarray:
    import pyworld

    written = line.weight > 1e-9
    weight = np.where(written, line.weight, 1.0)[:, None]
    # Divided by at least 1: a lone fade is a real fade (to silence), two overlapping ones a crossfade.
    sp = np.where(written[:, None], line.sp / np.maximum(weight, 1.0), 0.0) + 1e-16
    ap = np.where(written[:, None], np.clip(line.ap / weight, 0.0, 1.0), 1.0)
    voiced = written & (line.voiced >= 0.5 * line.weight)
    f0 = np.where(voiced, hertz(target_pitch(list(score.notes), len(written), LEAD_S)), 0.0)
    f0 = np.nan_to_num(f0)
    out = pyworld.synthesize(
        np.ascontiguousarray(f0), np.ascontiguousarray(sp), np.ascontiguousarray(ap), WORK_RATE, FRAME_MS
    )
    return out.astype(np.float32)
