"""Decoding what people send: voice notes and common formats read; bad audio refused quickly, clearly."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from anima.hearing.audio import RATE, AudioTooLong, AudioUnreadable, NothingHeard, decode
from tests.conftest import REPO
from tests.hearing.sounds import EIGHT, hum, ogg

MAX_BYTES = 20_000_000


def encoded(samples: np.ndarray, rate: int, fmt: str, subtype: str) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def test_a_telegram_voice_note_is_read_at_16k_mono_with_its_length() -> None:
    audio = decode(ogg(hum(EIGHT)), 120, MAX_BYTES)
    assert audio.sample_rate == RATE
    assert audio.duration_s == pytest.approx(len(hum(EIGHT)) / RATE, abs=0.03)


def test_stereo_wav_at_44k_is_mixed_down_and_resampled() -> None:
    tone = np.sin(2 * np.pi * 440 * np.arange(44_100) / 44_100).astype(np.float32) * 0.3
    audio = decode(encoded(np.stack([tone, tone], axis=1), 44_100, "WAV", "PCM_16"), 120, MAX_BYTES)
    assert audio.duration_s == pytest.approx(1.0, abs=0.01)
    assert float(np.abs(audio.samples).max()) == pytest.approx(0.3, abs=0.02)


def test_an_m4a_file_is_read_through_pyav() -> None:
    av = pytest.importorskip("av")
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=48_000, layout="mono")
        tone = (np.sin(2 * np.pi * 330 * np.arange(96_000) / 48_000) * 0.3).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="fltp", layout="mono")
        frame.sample_rate = 48_000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    audio = decode(buffer.getvalue(), 120, MAX_BYTES)
    assert audio.duration_s == pytest.approx(2.0, abs=0.1)


def test_a_recording_cut_short_is_heard_up_to_the_cut() -> None:
    whole = ogg(hum(EIGHT))
    audio = decode(whole[: len(whole) // 2], 120, MAX_BYTES)
    assert 0.5 < audio.duration_s < len(hum(EIGHT)) / RATE


@pytest.mark.parametrize(
    ("data", "error", "says"),
    [
        (b"", NothingHeard, "empty"),
        (b"<html>not a voice note</html>" * 50, AudioUnreadable, "not audio"),
        (ogg(hum(EIGHT))[:120], AudioUnreadable, "not audio"),
        (encoded(np.zeros(16_000, dtype=np.float32), 16_000, "WAV", "PCM_16"), NothingHeard, "silent"),
        (encoded(np.full(800, 0.2, dtype=np.float32), 16_000, "WAV", "PCM_16"), NothingHeard, "too short"),
    ],
    ids=["empty", "not-audio", "truncated-header", "silent", "too-short"],
)
def test_bad_audio_gets_a_line_that_says_why(data: bytes, error: type[Exception], says: str) -> None:
    with pytest.raises(error, match=says):
        decode(data, 120, MAX_BYTES)


def test_two_hours_is_refused_from_the_header_without_decoding_it() -> None:
    two_hours = encoded(np.zeros(8000 * 7200, dtype=np.float32), 8000, "FLAC", "PCM_16")
    with pytest.raises(AudioTooLong, match=r"lasts 2\.0 h; at most 2 min"):
        decode(two_hours, 120, MAX_BYTES)


def test_a_file_larger_than_the_limit_is_refused_before_it_is_read() -> None:
    with pytest.raises(AudioTooLong, match=r"21\.0 MB; at most 20 MB"):
        decode(b"\0" * 21_000_000, 120, MAX_BYTES)


# In a child process, so the CPU time counted is this work alone (getrusage of the child).
_CHILD = r"""
import io, json, resource, sys
import numpy as np, soundfile
from anima.errors import HearingError
from anima.hearing.audio import decode
from tests.hearing.sounds import EIGHT, hum, ogg

def enc(x, rate, fmt, sub):
    b = io.BytesIO(); soundfile.write(b, x, rate, format=fmt, subtype=sub); return b.getvalue()

cases = {
    "empty": b"",
    "truncated": ogg(hum(EIGHT))[:120],
    "two hours": enc(np.zeros(8000 * 7200, dtype=np.float32), 8000, "FLAC", "PCM_16"),
    "not audio": np.random.default_rng(3).bytes(5_000_000),
    "wav header, then noise": enc(np.zeros(16000, dtype=np.float32), 16000, "WAV", "PCM_16")[:40]
    + b"\xff\xff\xff\x7f" + np.random.default_rng(5).bytes(19_000_000),
}
cost = {}
for name, data in cases.items():
    before = resource.getrusage(resource.RUSAGE_SELF)
    try:
        decode(data, 120, 20_000_000)
        line = "decoded"
    except HearingError as exc:
        line = str(exc)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cost[name] = [after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, line]
print(json.dumps(cost))
"""


def test_bad_audio_costs_under_two_seconds_of_cpu_each() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, cwd=REPO, timeout=120,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    cost = json.loads(done.stdout)
    for name, (seconds, line) in cost.items():
        assert line != "decoded", name
        assert seconds <= 2.0, (name, seconds, line)
    assert "2.0 h" in cost["two hours"][1]
    assert "at most 2 min" in cost["wav header, then noise"][1]
