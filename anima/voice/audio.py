"""Engine PCM to a voice note: resample to 48 kHz mono, level loudness, encode OGG/Opus, draw the waveform."""

from __future__ import annotations

import base64
import io
import math

import numpy as np

from anima.core.surface import VoiceNote
from anima.errors import VoiceError
from anima.voice.engine import Pcm

SAMPLE_RATE = 48_000  # what Telegram and Discord voice notes use; Opus itself runs at 48 kHz
TARGET_RMS_DBFS = -18.0  # speech level over the voiced parts (a gated RMS, close to −18 LUFS for speech)
PEAK_CEILING_DBFS = -1.0
_BLOCK_S = 0.05
_GATE_DB = 40.0  # blocks this far below the loudest one count as silence
WAVEFORM_MAX_SAMPLES = 256
WAVEFORM_STEP_S = 0.1  # Discord: at most one waveform sample per 100 ms


def to_48k(pcm: Pcm) -> np.ndarray:
    samples = np.asarray(pcm.samples, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1, dtype=np.float32)
    if pcm.sample_rate == SAMPLE_RATE:
        return samples
    import soxr  # ~11 MB: loaded with the first voice note, not by every text chat

    return soxr.resample(samples, pcm.sample_rate, SAMPLE_RATE, quality="HQ").astype(np.float32, copy=False)


def _block_rms(samples: np.ndarray, block: int) -> np.ndarray:
    count = max(1, math.ceil(len(samples) / block))
    padded = np.zeros(count * block, dtype=np.float32)
    padded[: len(samples)] = samples
    return np.sqrt(np.mean(padded.reshape(count, block) ** 2, axis=1))


def normalise_loudness(samples: np.ndarray) -> np.ndarray:
    """Scale so the voiced blocks sit at TARGET_RMS_DBFS, without peaks above the ceiling."""
    if len(samples) == 0:
        return samples
    rms = _block_rms(samples, int(_BLOCK_S * SAMPLE_RATE))
    loudest = float(rms.max())
    if loudest <= 1e-6:
        return samples  # silence stays silence
    voiced = rms[rms >= loudest * 10 ** (-_GATE_DB / 20)]
    level = float(np.sqrt(np.mean(voiced**2)))
    gain = 10 ** (TARGET_RMS_DBFS / 20) / level
    peak = float(np.abs(samples).max())
    gain = min(gain, 10 ** (PEAK_CEILING_DBFS / 20) / peak)
    return (samples * gain).astype(np.float32, copy=False)


def waveform(samples: np.ndarray) -> str:
    """Discord's voice-message waveform: one byte per step, the loudest step at 255."""
    duration = len(samples) / SAMPLE_RATE
    count = max(1, min(WAVEFORM_MAX_SAMPLES, int(duration / WAVEFORM_STEP_S)))
    block = max(1, math.ceil(len(samples) / count))
    rms = _block_rms(samples, block)[:count]
    top = float(rms.max()) if len(rms) else 0.0
    levels = np.zeros(count) if top <= 0 else np.round(255 * rms / top)
    return base64.b64encode(levels.astype(np.uint8).tobytes()).decode()


def encode_ogg_opus(samples: np.ndarray) -> bytes:
    import soundfile  # libsndfile (~20 MB), loaded with the first voice note

    buffer = io.BytesIO()
    soundfile.write(buffer, samples, SAMPLE_RATE, format="OGG", subtype="OPUS")
    return buffer.getvalue()


def finish(pcm: Pcm) -> VoiceNote:
    """Blocking: the whole audio path from an engine's PCM to a note ready to send."""
    samples = to_48k(pcm)
    if len(samples) < SAMPLE_RATE // 100:
        raise VoiceError("the engine returned no audio for this text")
    samples = normalise_loudness(samples)
    return VoiceNote(
        ogg=encode_ogg_opus(samples),
        duration_s=round(len(samples) / SAMPLE_RATE, 3),
        waveform_b64=waveform(samples),
    )
