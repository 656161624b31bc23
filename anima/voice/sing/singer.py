"""`Singer.sing(card, score) -> VoiceNote | Busy`: the card's voice speaks each syllable, WORLD sings them.

Syllables are spoken and analysed once per voice (an in-process LRU: a song repeats most of its
syllables, and songs repeat each other's), the rendering runs on the singer's own worker threads
(`max_concurrency` of them), never on the event loop, and finished songs go to the voice cache like
any voice note. At most `max_waiting` songs wait for a worker; past that `sing` returns BUSY at once
and the caller answers with the card's busy line (`busy_line`).
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from anima.characters.card import CharacterCard
from anima.characters.macros import expand
from anima.core.surface import VoiceNote
from anima.errors import VoiceError
from anima.voice.audio import finish
from anima.voice.cache import cache_key
from anima.voice.engine import Engine, LocalEngine, Pcm, Segment, VoiceChoice
from anima.voice.service import VoiceService
from anima.voice.sing.backing import accompaniment
from anima.voice.sing.score import Score, Syllable
from anima.voice.sing.world import LEAD_S, WORK_RATE, Sound, analyse, render

RENDER_VERSION = 3  # bump when the singing changes, so cached songs are made afresh
_SOUNDS_MAX_BYTES = 64 * 1024 * 1024  # a syllable's envelopes take ~0.3 MB: a few hundred syllables
_REMOTE_AT_ONCE = 4  # syllables asked of a speech server at once
_T = TypeVar("_T")


@dataclass(frozen=True)
class Busy:
    """What `Singer.sing` returns instead of a song when its queue is full: nothing was rendered."""


BUSY = Busy()


def busy_line(card: CharacterCard, user_name: str) -> str:
    """The card's "give me a moment" line (card `busy`), for a song refused because the singer is busy."""
    return expand(random.choice(card.busy), {"char": card.name, "user": user_name})


@dataclass(frozen=True)
class Spoken:
    """What the voice engine is asked to say once: a Chinese character, or an English word, which is then
    cut into its `parts` syllables."""

    text: str
    language: str
    parts: int


class _Sounds:
    """Analysed speech by voice, least recently used dropped past `max_bytes`; shared by every Singer in
    the process (the analysis is the cost)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[tuple[str, Spoken], list[Sound] | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, Spoken]) -> tuple[bool, list[Sound] | None]:
        with self._lock:
            if key not in self._items:
                return False, None
            self._items.move_to_end(key)
            return True, self._items[key]

    def put(self, key: tuple[str, Spoken], sounds: list[Sound] | None) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = sounds
            self.bytes += _size(sounds)
            while self.bytes > self.max_bytes and len(self._items) > 1:
                self.bytes -= _size(self._items.popitem(last=False)[1])


def _size(sounds: list[Sound] | None) -> int:
    return sum(s.f0.nbytes + s.sp.nbytes + s.ap.nbytes for s in sounds or [])


_sounds = _Sounds(_SOUNDS_MAX_BYTES)


def spoken(score: Score, choice: VoiceChoice) -> list[tuple[Spoken, int]]:
    """For each of `score.sung()`: what is spoken for it, and which of its syllables it is."""
    syllables = [group.syllable for group in score.sung()]
    units: list[tuple[Spoken, int]] = []
    i = 0
    while i < len(syllables):
        word = [syllables[i]]
        while i + len(word) < len(syllables) and _goes_on(word[0], syllables[i + len(word)]):
            word.append(syllables[i + len(word)])
        text = "".join(s.text for s in word) if len(word) > 1 else _said(word[0], choice)
        units += [(Spoken(text, word[0].language, len(word)), k) for k in range(len(word))]
        i += len(word)
    return units


def _goes_on(first: Syllable, following: Syllable) -> bool:
    return following.joined and first.language == following.language == "en"


class Singer:
    """Sings scores in the characters' voices: at most `max_concurrency` songs rendered at once, on the
    singer's own threads, and at most `max_waiting` more waiting; past that, `sing` returns BUSY."""

    def __init__(self, voice: VoiceService, max_concurrency: int = 1, max_waiting: int = 4) -> None:
        self.voice = voice
        self.max_admitted = max_concurrency + max_waiting
        self._admitted = 0  # rendering or waiting to
        self._slots = asyncio.Semaphore(max_concurrency)
        self._pool = ThreadPoolExecutor(max_concurrency, thread_name_prefix="anima-singer")

    @property
    def busy(self) -> bool:
        """True when a song asked for now would get BUSY."""
        return self._admitted >= self.max_admitted

    async def sing(self, card: CharacterCard, score: Score, backing: bool = False) -> VoiceNote | Busy:
        """The score sung by the card's voice, or BUSY when `max_waiting` songs already wait (answer
        with `busy_line(card, user_name)`). Raises ScoreError for a score that cannot be sung (checked
        before anything waits or renders) and VoiceError when the voice engine fails."""
        score.check(backing)
        if self.busy:
            return BUSY
        self._admitted += 1
        try:
            return await self._sing(card, score, backing)
        finally:
            self._admitted -= 1

    async def _sing(self, card: CharacterCard, score: Score, backing: bool) -> VoiceNote:
        choice = self.voice.choice_for(card)
        engine = self.voice.engine(choice.engine)
        key = cache_key(RENDER_VERSION, "sing", engine.fingerprint(), choice, score, backing)
        async with self._slots:
            cached = await self._work(lambda: self.voice.cache.get(key))
            if cached is not None:
                return cached
            if isinstance(engine, LocalEngine):
                local = engine
                note = await self._work(lambda: self._render_local(local, choice, score, backing))
            else:
                sounds = await self._speak_remote(engine, choice, score)
                note = await self._work(lambda: self._finish(score, choice, sounds, backing))
            await self._work(lambda: self.voice.cache.put(key, note))
            return note

    async def _work(self, job: Callable[[], _T]) -> _T:
        """Blocking work on the singer's threads: the event loop goes on meanwhile."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, job)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _render_local(
        self, engine: LocalEngine, choice: VoiceChoice, score: Score, backing: bool
    ) -> VoiceNote:
        analysed: dict[Spoken, list[Sound] | None] = {}
        for unit, _ in spoken(score, choice):
            if unit in analysed:
                continue
            key = (_voice_key(engine, choice), unit)
            found, sounds = _sounds.get(key)
            if not found:
                pcm = engine.speak(unit.text, unit.language, choice)
                sounds = analyse(pcm.samples, pcm.sample_rate, unit.parts)
                _sounds.put(key, sounds)
            analysed[unit] = sounds
        return self._finish(score, choice, analysed, backing)

    async def _speak_remote(
        self, engine: Engine, choice: VoiceChoice, score: Score
    ) -> dict[Spoken, list[Sound] | None]:
        analysed: dict[Spoken, list[Sound] | None] = {}
        slots = asyncio.Semaphore(_REMOTE_AT_ONCE)

        async def one(unit: Spoken) -> None:
            key = (_voice_key(engine, choice), unit)
            found, sounds = _sounds.get(key)
            if not found:
                async with slots:
                    pcm = await engine.synthesize([Segment(unit.text, unit.language)], choice)
                sounds = await self._work(lambda: analyse(pcm.samples, pcm.sample_rate, unit.parts))
                _sounds.put(key, sounds)
            analysed[unit] = sounds

        await asyncio.gather(*(one(u) for u in dict.fromkeys(u for u, _ in spoken(score, choice))))
        return analysed

    @staticmethod
    def _finish(
        score: Score, choice: VoiceChoice, analysed: dict[Spoken, list[Sound] | None], backing: bool
    ) -> VoiceNote:
        silent = [unit.text for unit, sounds in analysed.items() if sounds is None]
        if silent:
            raise VoiceError(f"the voice engine said nothing usable for {', '.join(silent[:5])}")
        found = {unit: sounds for unit, sounds in analysed.items() if sounds is not None}  # all, by now
        sounds = [found[unit][k] for unit, k in spoken(score, choice)]
        voice = render(score, sounds)
        if backing:
            voice = _mix(voice, accompaniment(score, len(voice), WORK_RATE, LEAD_S))
        return finish(Pcm(voice, WORK_RATE))


def _said(syllable: Syllable, choice: VoiceChoice) -> str:
    """eSpeak reads pinyin with tone numbers, which keeps a character's reading in its words (行 in 银行);
    other engines get the character."""
    return syllable.sound if choice.engine == "espeak" else syllable.text


def _voice_key(engine: Engine, choice: VoiceChoice) -> str:
    return f"{engine.fingerprint()}|{choice}"


def _mix(voice: np.ndarray, backing: np.ndarray) -> np.ndarray:
    """The backing track sits about 12 dB under the voice's level."""
    level = float(np.sqrt(np.mean(voice**2))) or 1.0
    backing_level = float(np.sqrt(np.mean(backing**2))) or 1.0
    return (voice + backing * (level / backing_level) * 10 ** (-12 / 20)).astype(np.float32)


def offset_s() -> float:
    """Where the score's time 0 falls in a sung note (for measuring it)."""
    return LEAD_S
