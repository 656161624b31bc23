"""Audio bytes in, 16 kHz mono samples out, bounded in size and duration before any decoding work.

libsndfile (the `soundfile` wheel) reads OGG/Opus as Telegram and Discord send voice notes, and WAV,
FLAC and MP3; PyAV (installed with `make hearing`) reads the rest: M4A/AAC, MP4 video notes, WebM.
Decoding stops at the duration limit, so a file whose header lies costs no more than an honest one.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from anima.errors import HearingError

RATE = 16_000  # what Whisper and the melody tracker work at
MIN_SECONDS = 0.2  # shorter is a slip of the thumb, not a message
SILENCE_PEAK = 1e-3  # below this everywhere (−60 dBFS) there is nothing to hear
_BLOCK = 65_536  # frames decoded at a time


class AudioUnreadable(HearingError):
    """Not audio, or audio broken past reading."""


class AudioTooLong(HearingError):
    """Longer than stt.max_seconds, or larger than stt.max_mb."""


class NothingHeard(HearingError):
    """Too short, silent, or no words in it."""


@dataclass(frozen=True)
class Audio:
    """Mono float32 samples in [-1, 1] at RATE."""

    samples: np.ndarray
    sample_rate: int = RATE

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


def decode(data: bytes, max_seconds: float, max_bytes: int) -> Audio:
    """Blocking: the audio in `data`. Raises AudioUnreadable, AudioTooLong or NothingHeard."""
    if not data:
        raise NothingHeard("the voice message is empty")
    if len(data) > max_bytes:
        raise AudioTooLong(
            f"the file is {len(data) / 1e6:.1f} MB; at most {max_bytes / 1e6:.0f} MB can be listened to"
        )
    read = _read_soundfile(data, max_seconds)
    samples, rate = read if read is not None else _read_pyav(data, max_seconds)
    samples = np.clip(np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0), -1.0, 1.0)
    if rate != RATE and len(samples):
        import soxr  # ~11 MB: loaded with the first recording heard, not by every text chat

        samples = soxr.resample(samples, rate, RATE, quality="HQ").astype(np.float32, copy=False)
    if len(samples) < MIN_SECONDS * RATE:
        raise NothingHeard(f"the recording is too short ({len(samples) / RATE:.1f} s) to hear anything in")
    if float(np.abs(samples).max()) < SILENCE_PEAK:
        raise NothingHeard("the recording is silent")
    return Audio(np.ascontiguousarray(samples, dtype=np.float32))


def too_long(seconds: float, max_seconds: float) -> AudioTooLong:
    return AudioTooLong(
        f"the recording lasts {_duration(seconds)}; at most {_duration(max_seconds)} can be listened to"
    )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _read_soundfile(data: bytes, max_seconds: float) -> tuple[np.ndarray, int] | None:
    """The samples and their rate; None when libsndfile does not know the format (PyAV may)."""
    import soundfile  # libsndfile (~20 MB), loaded with the first recording heard

    try:
        file = soundfile.SoundFile(io.BytesIO(data))
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        return None
    with file:
        rate = file.samplerate
        if rate <= 0:
            raise AudioUnreadable("the recording has no sample rate")
        if file.frames > 0 and file.frames / rate > max_seconds:
            raise too_long(file.frames / rate, max_seconds)
        limit = int(max_seconds * rate) + 1
        blocks: list[np.ndarray] = []
        read = 0
        try:
            while read < limit:
                block = file.read(min(_BLOCK, limit - read), dtype="float32", always_2d=True)
                if not len(block):
                    break
                blocks.append(block.mean(axis=1, dtype=np.float32))
                read += len(block)
        except (soundfile.LibsndfileError, RuntimeError) as exc:
            if not blocks:  # broken from the start; a recording cut short is heard up to the cut
                raise AudioUnreadable(f"the recording is broken ({exc})") from None
    if read >= limit:
        raise too_long(read / rate, max_seconds)
    return (np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)), rate


def _read_pyav(data: bytes, max_seconds: float) -> tuple[np.ndarray, int]:
    try:
        import av
    except ImportError:
        raise AudioUnreadable(
            "the file is not audio that can be read (send OGG/Opus, MP3, WAV or FLAC; "
            "other formats need `make hearing`)"
        ) from None
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            stream = next(iter(container.streams.audio), None)
            if stream is None:
                raise AudioUnreadable("the file has no sound in it")
            if container.duration is not None and container.duration / 1e6 > max_seconds:
                raise too_long(container.duration / 1e6, max_seconds)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
            limit = int(max_seconds * RATE) + 1
            blocks: list[np.ndarray] = []
            read = 0
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    block = out.to_ndarray().reshape(-1)
                    blocks.append(block)
                    read += len(block)
                if read >= limit:
                    raise too_long(read / RATE, max_seconds)
            for out in resampler.resample(None):
                blocks.append(out.to_ndarray().reshape(-1))
    except av.FFmpegError:
        raise AudioUnreadable("the file is not audio that can be read") from None
    return (np.concatenate(blocks).astype(np.float32) if blocks else np.zeros(0, dtype=np.float32)), RATE
