"""Voice benchmarks: real-time factor of synthesis + encoding per engine, and latency to a finished note.

Run: .venv/bin/python -m bench voice_bench   (targets for espeak: RTF ≥ 50, < 150 ms for 200 characters)
"""

from __future__ import annotations

import asyncio
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from anima.characters.library import CharacterLibrary
from anima.config import OpenAIVoiceSettings, VoiceSettings
from anima.voice import VoiceService
from anima.voice.audio import finish
from anima.voice.text import script
from bench.report import record
from tests.fakes.openai_server import FakeOpenAI

REPO = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m bench voice_bench"
ROUNDS = 15

# 200-character replies, as a character would send them (markdown and emoji included).
ENGLISH = (
    "Oh, you're back! *smiles* I spent the whole morning sketching cherry blossoms by the river, "
    "then brewed some **jasmine tea** 🍵. What about you? Did you sleep well, or stay up late again?"
)
CHINESE = (
    "你好呀！今天我在成都的小录音室里写了一首新歌，叫《夜航星》的续集。*哼着歌* 副歌部分我想加一点英文，"
    "like flying over the city lights at midnight. 你觉得怎么样？要不要先听一小段？我们可以一起改歌词，"
    "然后晚上直播的时候唱给大家听！"
)


def speech_wav(seconds: float, rate: int = 24_000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    samples = 0.2 * np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    buffer = io.BytesIO()
    soundfile.write(buffer, samples.astype(np.float32), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


async def measure(service: VoiceService, card_id: str, text: str) -> dict[str, float]:
    """Cache off: every round synthesises and encodes afresh."""
    card = CharacterLibrary.load(REPO / "characters").get(card_id)
    choice = service.choice_for(card)
    engine = service.engine(choice.engine)
    segments = script(text, choice.language)
    await service.speak(card, text)  # warm up: library load, first-call costs
    synth_ms, encode_ms, wall_ms, cpu_s, audio_s = [], [], [], 0.0, 0.0
    for _ in range(ROUNDS):
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        pcm = await engine.synthesize(segments, choice)
        t1 = time.perf_counter()
        note = finish(pcm)
        t2 = time.perf_counter()
        cpu_s += time.process_time() - cpu0
        audio_s += note.duration_s
        synth_ms.append((t1 - t0) * 1000)
        encode_ms.append((t2 - t1) * 1000)
        t3 = time.perf_counter()
        await service.speak(card, text)  # the whole public path: text → script → engine → note
        wall_ms.append((time.perf_counter() - t3) * 1000)
    return {
        "chars": len(text),
        "audio_s": audio_s / ROUNDS,
        "synth_ms": statistics.median(synth_ms),
        "encode_ms": statistics.median(encode_ms),
        "note_ms_p50": statistics.median(wall_ms),
        "note_ms_max": max(wall_ms),
        "rtf": audio_s / cpu_s,
    }


async def main() -> None:
    rows: list[tuple[str, str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        espeak = VoiceService(VoiceSettings(cache_dir=Path(tmp), cache_max_mb=0))
        rows.append(("espeak", "en 200 chars", await measure(espeak, "aiko", ENGLISH[:200])))
        rows.append(("espeak", "zh+en 200 chars", await measure(espeak, "xingyao", CHINESE[:200])))
        await espeak.close()

        server = FakeOpenAI(speech_audio=speech_wav(12.0))
        await server.start()
        openai_settings = OpenAIVoiceSettings(base_url=server.base_url, api_key="sk-bench")
        remote = VoiceService(VoiceSettings(engines=["openai"], openai=openai_settings, cache_max_mb=0))
        card = "aiko"
        rows.append(("openai*", "en 200 chars", await measure(remote, card, ENGLISH[:200])))
        await remote.close()
        await server.stop()

    print(f"$ {COMMAND}   ({ROUNDS} rounds each, cache off)")
    print(
        f"{'engine':<8} {'text':<16} {'audio s':>8} {'synth ms':>9} {'encode ms':>10} "
        f"{'note p50 ms':>12} {'max ms':>7} {'RTF':>6}"
    )
    for engine, label, r in rows:
        print(
            f"{engine:<8} {label:<16} {r['audio_s']:>8.2f} {r['synth_ms']:>9.1f} {r['encode_ms']:>10.1f} "
            f"{r['note_ms_p50']:>12.1f} {r['note_ms_max']:>7.1f} {r['rtf']:>6.1f}"
        )
        record(f"voice note {engine} {label}: p50 to a finished note", r["note_ms_p50"], "ms", COMMAND)
        if not engine.endswith("*"):
            record(f"voice {engine} {label}: real-time factor (target ≥ 50)", r["rtf"], "×", COMMAND)
    print("RTF: seconds of audio per CPU second of synthesis + resampling + loudness + OGG/Opus encoding.")
    print("encode: resample to 48 kHz, loudness, OGG/Opus (libsndfile, Opus complexity 10), waveform.")
    print("* openai: the fake local server returns a fixed 12 s WAV at once; this measures Anima's side only")
    print("  (client, decode, encode), not a real TTS model. piper: not measured (no .onnx voice ships).")


if __name__ == "__main__":
    asyncio.run(main())
