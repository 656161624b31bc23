"""Singing: pitch accuracy (median |error| in cents over voiced frames), onset error per note, and speed.

Run: .venv/bin/python -m bench sing_bench   (targets: ≤ 20 cents, ≤ 30 ms onsets, faster than real time)
Each score is sung by Aiko's voice (espeak, the offline default), encoded to OGG/Opus, decoded, and its
F0 estimated with WORLD's Harvest. "cold" renders analyse every syllable; "warm" reuse the analyses.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from anima.characters.library import CharacterLibrary
from anima.config import VoiceSettings
from anima.voice import VoiceService
from anima.voice.sing import Score, parse
from anima.voice.sing.files import read_score
from anima.voice.sing.measure import accuracy
from anima.voice.sing.singer import Singer, offset_s

REPO = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m bench sing_bench"
SCORES = REPO / "tests" / "data" / "scores"


def scores() -> dict[str, Score]:
    return {
        "zh notation": parse(
            "/sing tempo=96 | C4 C4 G4 G4 A4 A4 G4*2 F4 F4 E4 E4 D4 D4 C4*2 | 一闪一闪亮晶晶 满天都是小星星"
        ).score,
        "en notation, melisma": parse(
            "/sing tempo=90 | D4 F#4 A4 B4 R/2 A4/2 G4 F#4*2 E4 D4*2 | hap-py _ birth-day to you, my friend"
        ).score,
        "en MIDI (twinkle_en.mid)": read_score((SCORES / "twinkle_en.mid").read_bytes(), "twinkle_en.mid"),
        "zh MusicXML, +7 (xiaoxingxing)": read_score(
            (SCORES / "xiaoxingxing_zh.musicxml").read_bytes(), "x.musicxml"
        ).transposed(7),
    }


async def main() -> None:
    card = CharacterLibrary.load(REPO / "characters").get("aiko")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, score in scores().items():
            runs = []
            for round_ in range(2):  # cold, then warm (the cache of finished songs is off)
                voice = VoiceService(VoiceSettings(cache_dir=Path(tmp) / f"c{round_}", cache_max_mb=0))
                started = time.perf_counter()
                note = await Singer(voice).sing(card, score)
                runs.append(time.perf_counter() - started)
                await voice.close()
            samples, rate = soundfile.read(io.BytesIO(note.ogg), dtype="float32")
            result = accuracy(samples, rate, score, offset_s())
            rows.append((name, score.duration_s, result, runs))
    print(
        f"{'score':<32} {'song s':>6} {'cents':>6} {'onset ms p50/max':>17} {'onsets':>7} "
        f"{'cold ×RT':>9} {'warm ×RT':>9}"
    )
    for name, duration, result, (cold, warm) in rows:
        onsets = f"{result.median_onset_ms:.0f}/{result.worst_onset_ms:.0f}"
        seen = f"{len(result.onset_errors_s)}/{result.notes}"
        print(
            f"{name:<32} {duration:>6.1f} {result.median_cents:>6.1f} {onsets:>17} {seen:>7} "
            f"{duration / cold:>8.1f}× {duration / warm:>8.1f}×"
        )
    cents = float(np.median([r.median_cents for _, _, r, _ in rows]))
    print(f"\nmedian over the scores: {cents:.1f} cents; ×RT = seconds of song per second of rendering")
    print(f"command: {COMMAND}")
