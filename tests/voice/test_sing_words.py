"""English words are spoken whole and cut into their syllables; Chinese characters are spoken one by one."""

from __future__ import annotations

from anima.voice.engine import VoiceChoice
from anima.voice.espeak_engine import EspeakEngine
from anima.voice.sing import parse
from anima.voice.sing.singer import Spoken, _Sounds, spoken
from anima.voice.sing.world import analyse

ESPEAK = VoiceChoice("espeak", None, "en")


def test_the_syllables_of_one_word_share_one_spoken_word_and_characters_go_alone() -> None:
    score = parse("/sing | C4 D4 E4 F4 G4 A4 | twin-kle _ star 小 星").score
    assert spoken(score, ESPEAK) == [
        (Spoken("twinkle", "en", 2), 0),
        (Spoken("twinkle", "en", 2), 1),
        (Spoken("star", "en", 1), 0),
        (Spoken("xiao3", "zh", 1), 0),
        (Spoken("xing1", "zh", 1), 0),
    ]


def test_a_spoken_word_is_cut_into_as_many_syllables_as_it_is_sung_on() -> None:
    pcm = EspeakEngine(lambda work: work()).speak("beautiful", "en", ESPEAK)  # type: ignore[arg-type,return-value]
    sounds = analyse(pcm.samples, pcm.sample_rate, 3)
    assert sounds is not None and len(sounds) == 3
    assert all(s.frames >= 10 and s.core_end > s.core_start for s in sounds)  # each holds a vowel


def test_the_cache_of_analysed_speech_stays_within_its_byte_budget() -> None:
    pcm = EspeakEngine(lambda work: work()).speak("star", "en", ESPEAK)  # type: ignore[arg-type,return-value]
    sounds = analyse(pcm.samples, pcm.sample_rate)
    one = sum(s.f0.nbytes + s.sp.nbytes + s.ap.nbytes for s in sounds or [])
    cache = _Sounds(max_bytes=3 * one)
    for word in ("a", "b", "c", "d", "e"):
        cache.put(("voice", Spoken(word, "en", 1)), sounds)
    assert cache.bytes <= 3 * one
    assert cache.get(("voice", Spoken("e", "en", 1)))[0]
    assert not cache.get(("voice", Spoken("a", "en", 1)))[0]
