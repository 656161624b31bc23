"""Piper: neural and local, one language per .onnx voice you download (`pip install 'anima[piper]'`)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from anima.config import PiperVoiceSettings
from anima.errors import VoiceError
from anima.voice.engine import LocalEngine, OffLoop, Pcm, VoiceChoice


class PiperEngine(LocalEngine):
    name = "piper"

    def __init__(self, settings: PiperVoiceSettings, voices_dir: Path, off_loop: OffLoop[Pcm]) -> None:
        super().__init__(off_loop)
        self.settings = settings
        self.voices_dir = voices_dir
        self._voices: dict[Path, Any] = {}
        self._lock = threading.Lock()

    def fingerprint(self) -> str:
        return f"piper {self.voices_dir}"

    def _model_path(self, choice: VoiceChoice) -> Path:
        name = choice.voice or self.settings.voice
        if not name:
            raise VoiceError(
                "the piper engine needs a voice: set the card's voice.voice to an .onnx file name"
            )
        path = Path(name)
        if not path.suffix:
            path = path.with_suffix(".onnx")
        if not choice.voice:  # the operator's own default may be a path anywhere
            return path if path.is_absolute() else self.voices_dir / path
        # a card's voice stays inside voices_dir, symlinks followed: a card never loads another file
        folder = self.voices_dir.resolve()
        resolved = (folder / path).resolve()
        if not resolved.is_relative_to(folder):
            raise VoiceError(
                f"piper voice {name[:80]!r} is outside {self.voices_dir}: a card's voice.voice is a file "
                "name in voice.piper.voices_dir"
            )
        return resolved

    def _voice(self, path: Path) -> Any:
        with self._lock:
            if path not in self._voices:
                try:
                    from piper import PiperVoice
                except ImportError as exc:
                    raise VoiceError(
                        "the piper engine is not installed: pip install 'anima[piper]' (or use espeak)"
                    ) from exc
                if not path.exists():
                    raise VoiceError(
                        f"piper voice {path} not found: download the .onnx and its .onnx.json into "
                        f"{self.voices_dir}"
                    )
                self._voices[path] = PiperVoice.load(str(path))
            return self._voices[path]

    def speak(self, text: str, language: str, choice: VoiceChoice) -> Pcm:
        voice = self._voice(self._model_path(choice))
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=1.0 / choice.speed)
        chunks = list(voice.synthesize(text, syn_config=config))
        if not chunks:
            return Pcm(np.zeros(0, dtype=np.float32), voice.config.sample_rate)
        samples = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        return Pcm(samples, chunks[0].sample_rate)
