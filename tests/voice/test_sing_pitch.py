"""Sung notes are in tune and on time: measured on the decoded voice note with WORLD's Harvest."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

from anima.config import VoiceSettings
from anima.voice import VoiceService
from anima.voice.sing import Score, parse
from anima.voice.sing.measure import Accuracy, accuracy
from anima.voice.sing.singer import Singer, offset_s
from tests.conftest import REPO
from tests.voice.conftest import card

SCORES = REPO / "tests" / "data" / "scores"
MAX_MEDIAN_CENTS = 20.0
MAX_ONSET_MS = 30.0


@pytest.fixture
async def singer(voice_settings: VoiceSettings) -> AsyncIterator[Singer]:
    service = VoiceService(voice_settings)
    yield Singer(service)
    await service.close()


async def sung(singer: Singer, score: Score, backing: bool = False) -> tuple[np.ndarray, int]:
    note = await singer.sing(card("aiko"), score, backing=backing)
    samples, rate = soundfile.read(io.BytesIO(note.ogg), dtype="float32")
    return samples, rate


async def measured(singer: Singer, score: Score) -> Accuracy:
    samples, rate = await sung(singer, score)
    return accuracy(samples, rate, score, offset_s())


def assert_in_tune_and_on_time(result: Accuracy) -> None:
    assert result.median_cents <= MAX_MEDIAN_CENTS
    assert len(result.onset_errors_s) >= 0.6 * result.notes  # repeated notes sung legato show no onset
    assert result.worst_onset_ms <= MAX_ONSET_MS


async def test_a_chinese_melody_is_sung_in_tune_and_on_time(singer: Singer) -> None:
    score = parse("/sing tempo=110 | G4 E4 G4 C5/2 A4/2 G4*2 | 小 星 星 亮 晶 晶").score
    assert_in_tune_and_on_time(await measured(singer, score))


async def test_an_english_melody_with_a_melisma_and_a_rest_is_sung_in_tune_and_on_time(
    singer: Singer,
) -> None:
    score = parse("/sing tempo=90 | D4 F#4 A4 B4 R/2 A4/2 G4 F#4*2 | hap-py _ birth-day to you").score
    assert_in_tune_and_on_time(await measured(singer, score))


async def test_a_backing_track_fills_the_rests_that_are_silent_without_it(singer: Singer) -> None:
    score = parse("/sing tempo=60 | C4 R*2 E4 | la la").score

    def rest_level(samples: np.ndarray, rate: int) -> float:
        rest = samples[int((offset_s() + 1.2) * rate) : int((offset_s() + 2.8) * rate)]
        return float(np.sqrt(np.mean(rest**2)))

    assert rest_level(*await sung(singer, score)) < 0.002
    assert rest_level(*await sung(singer, score, backing=True)) > 0.01


async def test_singing_the_same_score_again_comes_from_the_cache(singer: Singer) -> None:
    score = parse("/sing | C4 D4 | la la").score
    first = await singer.sing(card("aiko"), score)
    before = singer.voice.cache.size_bytes()
    again = await singer.sing(card("aiko"), score)
    assert again.ogg == first.ogg
    assert singer.voice.cache.size_bytes() == before


def test_the_test_scores_are_in_the_repository() -> None:
    assert {p.name for p in Path(SCORES).iterdir()} >= {"twinkle_en.mid", "xiaoxingxing_zh.musicxml"}
