"""Offline speech to text: faster-whisper (CTranslate2, int8 on the CPU) on the models of `models`.

English goes to stt.model (tiny.en is about twice as fast as base); every other language to the
multilingual base. When more than one language is expected, base's language detection picks among
them only (a short clip is easily taken for a language nobody in the chat speaks).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from anima.hearing import models
from anima.hearing.audio import Audio, NothingHeard
from anima.hearing.engine import Transcript
from anima.voice.engine import OffLoop

# Decoding is bounded: greedy, one temperature (no fallback retries), and a cap on tokens per
# 30-second window, so audio that makes the model loop costs no more than real speech.
_MAX_TOKENS = 256
# Whisper writes Mandarin in traditional or simplified characters; a simplified prompt tips it.
_PROMPTS = {"zh": "以下是普通话的句子。"}


class WhisperTranscriber:
    name = "whisper"

    def __init__(self, model: str, models_dir: Path, threads: int, off_loop: OffLoop[Transcript]) -> None:
        self.english_model = model
        self._models_dir = models_dir
        self._threads = threads
        self._off_loop = off_loop
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()

    async def transcribe(self, audio: Audio, languages: Sequence[str]) -> Transcript:
        return await self._off_loop(lambda: self.transcribe_now(audio, languages))

    def transcribe_now(self, audio: Audio, languages: Sequence[str]) -> Transcript:
        """Blocking: the transcript of `audio`."""
        language = languages[0] if len(languages) == 1 else self._detect(audio, languages)
        name = self.english_model if language == "en" else "base"
        model = self.model(name)
        segments, _ = model.transcribe(
            audio.samples,
            language=language,
            beam_size=1,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            max_new_tokens=_MAX_TOKENS,
            vad_filter=True,
            initial_prompt=_PROMPTS.get(language),
            no_repeat_ngram_size=3,  # a looping decoder repeats phrases; real speech rarely does
        )
        text = " ".join(s.text.strip() for s in segments).strip()
        if not text:
            raise NothingHeard("no words could be made out in it")
        return Transcript(text, language, audio.duration_s, f"whisper {name}")

    def _detect(self, audio: Audio, languages: Sequence[str]) -> str:
        _, _, probabilities = self.model("base").detect_language(audio.samples)
        likely = dict(probabilities)
        return max(languages, key=lambda code: likely.get(code, 0.0))

    def model(self, name: str) -> Any:
        """The loaded model (once per process; loading takes about a second)."""
        with self._lock:
            if name not in self._loaded:
                path = models.tiny_en() if name == "tiny.en" else models.base(self._models_dir)
                self._loaded[name] = _load(path, self._threads)
            return self._loaded[name]

    async def close(self) -> None:
        self._loaded.clear()


def _load(path: Path, threads: int) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a folder is given: nothing may reach for a hub
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        raise models.ModelMissing(
            "offline speech to text needs faster-whisper: install it with `make hearing` "
            "(pip install -e '.[hearing]'), or set stt.engine: openai"
        ) from None
    return WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=threads, num_workers=1)
