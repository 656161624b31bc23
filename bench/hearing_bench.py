"""Hearing: word error rate and speed of speech to text, hum-to-song accuracy, and what bad audio costs.

Run: .venv/bin/python -m bench hearing_bench   (needs `make hearing`)
Targets: offline English WER ≤ 15% on clean synthesised speech at ≥ 3× real time; a hummed eight-note
tune ≥ 90% of notes within ±50 cents, onsets within 60 ms; bad audio ≤ 2 s of CPU.

Speech: sentences spoken by eSpeak NG in several voices and speeds, as OGG/Opus voice notes, clean
and with white noise at 10 dB SNR, and the five English sentences as one ~13 s message ("long": the
encoder always reads a 30 s window, so short clips cost more per second); Chinese is scored by
characters (CER). No public recordings are used: none ships in a PyPI package under a licence that
allows it that this bench could find, and model hubs are out of reach. The openai engine is not
measured here (no speech-to-text server to measure).
Hums: three eight-note tunes, sine or band-limited sawtooth, with vibrato, slides, a detuned hummer
and noise; then Aiko sings the tune heard, and the song's pitch and onsets are measured with WORLD's
Harvest against the notes hummed (not against what was heard).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from anima.characters.library import CharacterLibrary
from anima.config import SttSettings, VoiceSettings
from anima.hearing import HearingService
from anima.hearing.audio import RATE, decode
from anima.hearing.melody import extract
from anima.hearing.song import fit_lyrics
from anima.voice import VoiceService
from anima.voice.sing.measure import accuracy
from anima.voice.sing.score import Note, Score
from anima.voice.sing.singer import Busy, Singer, offset_s
from bench.report import record
from tests.hearing.sounds import EIGHT, Hummed, hum, ogg, speech, tune

REPO = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m bench hearing_bench"

ENGLISH = [
    "Good morning, how did you sleep last night?",
    "Can you tell me a story about a dragon and a little girl?",
    "I am feeling a bit tired today, but the weather is lovely.",
    "Please remember that my sister's birthday is next week.",
    "What should I cook for dinner tonight?",
]
CHINESE = [
    "你好，今天过得怎么样？",
    "请给我讲一个关于小猫的故事。",
    "我明天要去北京出差。",
    "你喜欢吃什么水果？",
]
ENGLISH_VOICES = ["en-us", "en-us+f3", "en-gb-x-rp"]
CHINESE_VOICES = ["cmn", "cmn+f3"]
SPEEDS = [0.9, 1.2]
NOISE = [None, 10.0]  # SNR in dB; None: clean

TUNES = {
    "C major, 100 bpm": EIGHT,
    "low (G2–D3), 80 bpm": tune([43, 45, 47, 48, 50, 48, 47, 45], [1, 1, 0.5, 0.5, 1, 1, 1, 2], tempo=80),
    "high (E4–E5), 130 bpm": tune(
        [64, 67, 71, 72, 76, 74, 71, 69], [0.5, 0.5, 1, 0.5, 0.5, 1, 1, 2], tempo=130
    ),
}
HUMS = {
    "sine": {},
    "sawtooth": {"wave": "saw"},
    "saw + vibrato ±40c": {"wave": "saw", "vibrato_cents": 40},
    "saw + slides 80 ms": {"wave": "saw", "slide_s": 0.08},
    "sine + noise 15 dB": {"noise_snr_db": 15},
    "saw, -30c, vib, 20 dB": {"wave": "saw", "detune_cents": -30, "vibrato_cents": 30, "noise_snr_db": 20},
}
LYRICS = "the sea is wide and blue to-night"  # eight syllables


def words(text: str) -> list[str]:
    return "".join(c if c.isalnum() or c.isspace() or c == "'" else " " for c in text.lower()).split()


def characters(text: str) -> list[str]:
    return [c for c in text if "\u4e00" <= c <= "\u9fff"]


def edits(reference: list[str], hypothesis: list[str]) -> int:
    row = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        previous, row[0] = row[0], i
        for j, hyp in enumerate(hypothesis, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ref != hyp))
    return row[-1]


@dataclass
class Tally:
    errors: int = 0
    reference: int = 0
    audio_s: float = 0.0
    wall_s: float = 0.0
    cpu_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.errors / max(self.reference, 1)


async def speech_to_text(models: Path) -> None:
    clips: list[tuple[str, str, bytes, float, str]] = []  # language, condition, ogg, seconds, said
    for text in ENGLISH:
        for voice in ENGLISH_VOICES:
            for speed in SPEEDS:
                for snr in NOISE:
                    samples = speech(text, voice, speed, snr)
                    clips.append(
                        ("en", "clean" if snr is None else "noisy", ogg(samples), len(samples) / RATE, text)
                    )
    long_text = " ".join(ENGLISH)  # one longer message (~13 s): Whisper's cost per clip has a floor
    for voice in ENGLISH_VOICES:
        samples = speech(long_text, voice)
        clips.append(("en", "long", ogg(samples), len(samples) / RATE, long_text))
    for text in CHINESE:
        for voice in CHINESE_VOICES:
            for speed in SPEEDS:
                for snr in NOISE:
                    samples = speech(text, voice, speed, snr)
                    clips.append(
                        ("zh", "clean" if snr is None else "noisy", ogg(samples), len(samples) / RATE, text)
                    )
    print(f"speech: {len(clips)} clips, {sum(c[3] for c in clips):.0f} s of audio")
    print(
        f"{'engine':<14} {'language':<9} {'clips':<6} {'condition':<9} {'WER/CER':>8} "
        f"{'×RT wall':>9} {'×RT CPU':>8}"
    )
    results: dict[tuple[str, str, str], Tally] = {}
    for model, languages in (("tiny.en", ["en"]), ("base", ["en", "zh"])):
        hearing = HearingService(SttSettings(model=model, models_dir=models, languages=["en"]))
        await hearing.hear(clips[0][2], ["en"])  # load the model outside the timing
        for language, condition, data, seconds, said in clips:
            if language not in languages:
                continue
            started, cpu = time.perf_counter(), time.process_time()
            try:
                heard = (await hearing.hear(data, [language])).text
            except Exception as exc:  # a clip nothing was heard in counts as all words missed
                heard = f"[{exc}]"
            tally = results.setdefault((f"whisper {model}", language, condition), Tally())
            tally.wall_s += time.perf_counter() - started
            tally.cpu_s += time.process_time() - cpu
            tally.audio_s += seconds
            split = words if language == "en" else characters
            tally.errors += edits(split(said), split(heard))
            tally.reference += len(split(said))
        await hearing.close()
        show({k: v for k, v in results.items() if k[0] == f"whisper {model}"}, clips)
    print("×RT: seconds of audio per second of transcription (wall clock; CPU time of all threads)")


def show(results: dict[tuple[str, str, str], Tally], clips: list[tuple[str, str, bytes, float, str]]) -> None:
    for (engine, language, condition), t in results.items():
        clips_n = sum(1 for c in clips if c[0] == language and c[1] == condition)
        print(
            f"{engine:<14} {language:<9} {clips_n:<6} {condition:<9} {t.rate:>7.1%} "
            f"{t.audio_s / t.wall_s:>8.1f}× {t.audio_s / t.cpu_s:>7.1f}×"
        )
        name = f"WER {engine} {language} {condition}" if language == "en" else f"CER {engine} zh {condition}"
        record(name, round(100 * t.rate, 1), "%", COMMAND)
        if condition in ("clean", "long"):
            where = f"{engine} {language}{' long' if condition == 'long' else ''}"
            record(f"×RT {where} (wall)", round(t.audio_s / t.wall_s, 1), "×", COMMAND)
            record(f"×RT {where} (CPU)", round(t.audio_s / t.cpu_s, 1), "×", COMMAND)


async def hum_to_song() -> None:
    card = CharacterLibrary.load(REPO / "characters").get("aiko")
    print(
        f"\n{'tune':<22} {'hum':<22} {'±50c':>5} {'onset ms p50/max':>17} {'bpm':>5} {'sung c':>7} "
        f"{'sung onset p50/max':>19}"
    )
    within_all, onsets_all, sung_cents, sung_onsets = [], [], [], []
    extract_cpu = extract_audio = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        voice = VoiceService(VoiceSettings(cache_dir=Path(tmp), cache_max_mb=0))
        singer = Singer(voice)
        for tune_name, notes in TUNES.items():
            for hum_name, how in HUMS.items():
                audio = decode(ogg(hum(notes, **how)), 60, 10**7)  # type: ignore[arg-type]
                cpu = time.process_time()
                melody = extract(audio)
                extract_cpu += time.process_time() - cpu
                extract_audio += audio.duration_s
                within, onset_errors = compare(notes, melody.score, float(how.get("detune_cents", 0.0)))
                within_all += within
                onsets_all += onset_errors
                truth = Score(tuple(Note(n.pitch, n.start_s - notes[0].start_s, n.duration_s) for n in notes))
                song = await singer.sing(card, fit_lyrics(melody.score, LYRICS).score)
                assert not isinstance(song, Busy)  # one song at a time here
                samples, rate = soundfile.read(io.BytesIO(song.ogg), dtype="float32")
                sung = accuracy(samples, rate, truth, offset_s())
                sung_cents.append(sung.median_cents)
                sung_onsets += [abs(e) * 1000 for e in sung.onset_errors_s]
                print(
                    f"{tune_name:<22} {hum_name:<22} {np.mean(within):>5.0%} "
                    f"{np.median(onset_errors):>8.0f}/{max(onset_errors):<8.0f} {melody.tempo:>5g} "
                    f"{sung.median_cents:>7.1f} {sung.median_onset_ms:>9.0f}/{sung.worst_onset_ms:<9.0f}"
                )
        singer.close()
        await voice.close()
    share = float(np.mean(within_all))
    print(
        f"\nall hums: {share:.1%} of notes within ±50 cents of the hum, onset error p50 "
        f"{np.median(onsets_all):.0f} ms, max {max(onsets_all):.0f} ms; sung: median pitch error "
        f"{np.median(sung_cents):.1f} cents, onsets p50 {np.median(sung_onsets):.0f} ms, "
        f"max {max(sung_onsets):.0f} ms"
    )
    print(f"melody extraction: {extract_audio / extract_cpu:.0f}× real time (CPU)")
    record("hummed notes within ±50 cents", round(100 * share, 1), "%", COMMAND)
    record("hummed onset error p50", round(float(np.median(onsets_all))), "ms", COMMAND)
    record("hummed onset error max", round(max(onsets_all)), "ms", COMMAND)
    record("sung from hum: median pitch error", round(float(np.median(sung_cents)), 1), "cents", COMMAND)
    record("sung from hum: onset error max", round(max(sung_onsets)), "ms", COMMAND)


def compare(notes: list[Hummed], score: Score, detune: float) -> tuple[list[bool], list[float]]:
    """Per hummed note: whether the note heard at its onset (±100 ms) is within 50 cents; onset errors
    in ms."""
    first = notes[0].start_s
    heard = score.sung_notes
    within, errors = [], []
    for note in notes:
        at = note.start_s - first
        nearest = min(heard, key=lambda n: abs(n.start_s - at))
        if abs(nearest.start_s - at) > 0.1 or nearest.pitch is None:
            within.append(False)
            continue
        within.append(abs(100 * (nearest.pitch - note.pitch) - detune) <= 50)
        errors.append(abs(nearest.start_s - at) * 1000)
    return within, errors


_BAD = r"""
import io, json, resource
import numpy as np, soundfile
from anima.errors import HearingError
from anima.hearing.audio import decode
from tests.hearing.sounds import EIGHT, hum, ogg

def enc(x, rate, fmt, sub):
    b = io.BytesIO(); soundfile.write(b, x, rate, format=fmt, subtype=sub); return b.getvalue()

cases = {
    "empty": b"",
    "truncated (header only)": ogg(hum(EIGHT))[:120],
    "two hours (FLAC)": enc(np.zeros(8000 * 7200, dtype=np.float32), 8000, "FLAC", "PCM_16"),
    "not audio (5 MB random)": np.random.default_rng(3).bytes(5_000_000),
    "WAV header, 19 MB noise": enc(np.zeros(16000, dtype=np.float32), 16000, "WAV", "PCM_16")[:40]
    + b"\xff\xff\xff\x7f" + np.random.default_rng(5).bytes(19_000_000),
}
out = {}
for name, data in cases.items():
    before = resource.getrusage(resource.RUSAGE_SELF)
    try:
        decode(data, 120, 20_000_000); line = "decoded"
    except HearingError as exc:
        line = str(exc)
    after = resource.getrusage(resource.RUSAGE_SELF)
    out[name] = [after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, line]
print(json.dumps(out))
"""


def bad_audio() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", _BAD], capture_output=True, text=True, cwd=REPO, env=env)
    cost = json.loads(done.stdout)
    print(f"\n{'bad audio':<26} {'CPU s':>6}  line")
    for name, (seconds, line) in cost.items():
        print(f"{name:<26} {seconds:>6.3f}  {line}")
    record("bad audio: worst CPU", round(max(s for s, _ in cost.values()), 3), "s", COMMAND)


async def main() -> None:
    with tempfile.TemporaryDirectory() as models:
        await speech_to_text(Path(models))
    await hum_to_song()
    bad_audio()
    print(f"command: {COMMAND}")
