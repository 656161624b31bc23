"""eSpeak NG through ctypes, from the library and data that the `espeakng-loader` wheel bundles.

libespeak-ng keeps global state (one voice, one callback), so one render runs at a time under a
lock; at several hundred times real time that is never the bottleneck (Opus encoding is).
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from anima.errors import VoiceError
from anima.voice.engine import LocalEngine, Pcm, VoiceChoice

# espeak_lib.h / speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_RATE, _PITCH = 1, 3
_DEFAULT_WPM, _MIN_WPM, _MAX_WPM = 175, 80, 450

# The voice for a language when the card's own voice speaks another one (mixed Chinese/English).
DEFAULT_VOICES = {"zh": "cmn", "en": "en-us", "ja": "ja", "ko": "ko", "yue": "yue"}

_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _Library:
    """The loaded libespeak-ng: initialised once per process, used under `lock`."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:  # a dependency of anima; missing only in a broken install
            raise VoiceError("the espeak engine needs the espeakng-loader package: pip install -e .") from exc
        self.lock = threading.Lock()
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        data = espeakng_loader.get_data_path().encode()
        self.sample_rate = self.lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 500, data, _INITIALIZE_DONT_EXIT
        )
        if self.sample_rate <= 0:
            raise VoiceError(f"eSpeak NG failed to start with its data at {data.decode()}")
        self._chunks: list[np.ndarray] = []
        self._callback = _Callback(self._collect)  # kept referenced: the library calls it later
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: ctypes._Pointer[ctypes.c_short], count: int, _events: int) -> int:
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0  # 0: go on

    def speak(self, text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
        with self.lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise VoiceError(
                    f"eSpeak NG has no voice {voice!r}; use a language code such as en-us, en-gb, cmn, ja, "
                    f"fr or de in the card's voice.voice"
                )
            self.lib.espeak_SetParameter(_RATE, rate, 0)
            self.lib.espeak_SetParameter(_PITCH, pitch, 0)
            self._chunks = []
            data = text.encode() + b"\0"
            if self.lib.espeak_Synth(data, len(data), 0, 0, 0, _CHARS_UTF8, None, None) != 0:
                raise VoiceError(f"eSpeak NG could not speak {text[:40]!r}")
            chunks, self._chunks = self._chunks, []
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32) / 32768.0


_library: _Library | None = None
_library_lock = threading.Lock()


def _load() -> _Library:
    global _library
    with _library_lock:
        if _library is None:
            _library = _Library()
        return _library


class EspeakEngine(LocalEngine):
    """Offline and fast; robotic, but it speaks ~100 languages, Mandarin and English included."""

    name = "espeak"

    def speak(self, text: str, language: str, choice: VoiceChoice) -> Pcm:
        library = _load()
        voice = self.voice_for(language, choice)
        rate = round(min(max(_DEFAULT_WPM * choice.speed, _MIN_WPM), _MAX_WPM))
        pitch = round(min(max(50 * choice.pitch, 0), 100))  # espeak's 0–100 scale, 50 by default
        return Pcm(library.speak(text, voice, rate, pitch), library.sample_rate)

    @staticmethod
    def voice_for(language: str, choice: VoiceChoice) -> str:
        if choice.voice and language == choice.language:
            return choice.voice
        return DEFAULT_VOICES.get(language, language)
