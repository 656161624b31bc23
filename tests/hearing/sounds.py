"""Test sounds made here, not downloaded: hums (sine or sawtooth, vibrato, slides, noise), espeak speech."""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass

import numpy as np
import soundfile
import soxr

RATE = 16_000


@dataclass(frozen=True)
class Hummed:
    pitch: int
    start_s: float
    duration_s: float


def tune(pitches: list[int], beats: list[float], tempo: float = 100.0, gap_s: float = 0.0) -> list[Hummed]:
    """Notes one after another; `gap_s` of silence at the end of each (0: legato)."""
    beat = 60 / tempo
    notes, at = [], 0.3
    for pitch, length in zip(pitches, beats, strict=True):
        notes.append(Hummed(pitch, at, length * beat - gap_s))
        at += length * beat
    return notes


# An eight-note tune: C4 D4 E4 G4 | A4 G4 E4 D4, quarters and eighths, at 100 beats a minute.
EIGHT = tune([60, 62, 64, 67, 69, 67, 64, 62], [1, 0.5, 0.5, 1, 1, 0.5, 0.5, 2])


def hum(
    notes: list[Hummed],
    wave: str = "sine",
    vibrato_cents: float = 0.0,
    vibrato_hz: float = 5.5,
    slide_s: float = 0.0,
    noise_snr_db: float | None = None,
    detune_cents: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """Mono float32 at RATE. A slide (portamento) spans `slide_s` around each legato note change."""
    end = notes[-1].start_s + notes[-1].duration_s + 0.4
    t = np.arange(int(end * RATE)) / RATE
    pitch = np.zeros_like(t)
    gain = np.zeros_like(t)
    for note in notes:
        inside = (t >= note.start_s) & (t < note.start_s + note.duration_s)
        pitch[inside] = note.pitch
        rise = np.clip((t - note.start_s) / 0.02, 0, 1)
        fall = np.clip((note.start_s + note.duration_s - t) / 0.03, 0, 1)
        gain = np.maximum(gain, np.where(inside, np.minimum(rise, fall), 0))
    if slide_s:
        for a, b in itertools.pairwise(notes):
            boundary = b.start_s
            if abs(a.start_s + a.duration_s - boundary) > 1e-6 or a.pitch == b.pitch:
                continue
            span = (t >= boundary - slide_s / 2) & (t < boundary + slide_s / 2)
            pitch[span] = a.pitch + (b.pitch - a.pitch) * (t[span] - (boundary - slide_s / 2)) / slide_s
    last = 0.0  # hold the pitch through silences so the phase stays continuous
    for i in range(len(pitch)):
        if pitch[i] == 0:
            pitch[i] = last
        else:
            last = pitch[i]
    pitch = pitch + detune_cents / 100 + vibrato_cents / 100 * np.sin(2 * np.pi * vibrato_hz * t)
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    if wave == "sine":
        signal = np.sin(phase)
    else:  # a band-limited sawtooth: harmonics up to 7 kHz
        signal = np.zeros_like(t)
        for k in range(1, 60):
            signal += np.where(k * f0 < 7000, np.sin(k * phase) / k, 0.0)
        signal /= np.abs(signal).max()
    signal *= 0.3 * gain
    if noise_snr_db is not None:
        level = np.sqrt(np.mean(signal[gain > 0.5] ** 2))
        noise = np.random.default_rng(seed).standard_normal(len(t))
        signal += noise * level * 10 ** (-noise_snr_db / 20)
    return signal.astype(np.float32)


def ogg(samples: np.ndarray, rate: int = RATE) -> bytes:
    """OGG/Opus at 48 kHz, as Telegram and Discord send voice notes."""
    at_48k = soxr.resample(samples, rate, 48_000) if rate != 48_000 else samples
    buffer = io.BytesIO()
    soundfile.write(buffer, at_48k, 48_000, format="OGG", subtype="OPUS")
    return buffer.getvalue()


def speech(
    text: str, voice: str = "en-us", speed: float = 1.0, noise_snr_db: float | None = None
) -> np.ndarray:
    """`text` spoken by eSpeak NG, at RATE."""
    from anima.voice.espeak_engine import _load

    library = _load()
    rate = round(min(max(175 * speed, 80), 450))
    samples = library.speak(text, voice, rate, 50)
    samples = soxr.resample(samples, library.sample_rate, RATE).astype(np.float32)
    if noise_snr_db is not None:
        level = np.sqrt(np.mean(samples[np.abs(samples) > 0.01] ** 2))
        noise = np.random.default_rng(1).standard_normal(len(samples))
        samples = samples + (noise * level * 10 ** (-noise_snr_db / 20)).astype(np.float32)
    return samples


def heard_tempo(line: str) -> float:
    """The tempo in a "🎵 I heard: /sing tempo=N key=…" line."""
    return float(line.split("tempo=", 1)[1].split()[0])
