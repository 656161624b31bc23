"""Hum to song: the notes, rhythm, tempo and key of a hummed tune, and what is printed for it."""

from __future__ import annotations

import pytest

from anima.hearing.audio import decode
from anima.hearing.melody import Melody, extract
from anima.hearing.song import notation
from anima.voice.sing.notation import parse
from tests.hearing.sounds import EIGHT, Hummed, hum, ogg, tune

HUMS = {
    "sine": {},
    "sawtooth": {"wave": "saw"},
    "vibrato": {"wave": "saw", "vibrato_cents": 40},
    "slides": {"wave": "saw", "slide_s": 0.08},
    "noise 15 dB": {"noise_snr_db": 15},
    "detuned 35 cents, vibrato, noise": {
        "wave": "saw",
        "detune_cents": 35,
        "vibrato_cents": 30,
        "noise_snr_db": 20,
    },
}


def heard(notes: list[Hummed], **how: object) -> Melody:
    return extract(decode(ogg(hum(notes, **how)), 60, 10**7))  # type: ignore[arg-type]


@pytest.mark.parametrize("how", HUMS.values(), ids=HUMS.keys())
def test_eight_hummed_notes_come_back_on_their_pitches_and_onsets(how: dict[str, object]) -> None:
    melody = heard(EIGHT, **how)
    assert [n.pitch for n in melody.score.sung_notes] == [n.pitch for n in EIGHT]
    first = EIGHT[0].start_s
    for sung, hummed in zip(melody.score.sung_notes, EIGHT, strict=True):
        assert sung.start_s == pytest.approx(hummed.start_s - first, abs=0.03)
    assert melody.tempo == pytest.approx(100, abs=1.5)


def test_a_tune_hummed_a_third_of_a_semitone_flat_is_still_its_notes() -> None:
    melody = heard(EIGHT, detune_cents=-35)
    assert [n.pitch for n in melody.score.sung_notes] == [n.pitch for n in EIGHT]
    assert melody.tuning_cents == pytest.approx(-35, abs=5)


def test_repeated_notes_with_a_breath_between_stay_separate_notes() -> None:
    twinkle = tune([60, 60, 67, 67, 69, 69, 67], [1, 1, 1, 1, 1, 1, 2], tempo=90, gap_s=0.06)
    melody = heard(twinkle)
    assert [n.pitch for n in melody.score.sung_notes] == [60, 60, 67, 67, 69, 69, 67]
    assert melody.tempo == pytest.approx(90, abs=1.5)


def test_a_pause_in_the_hum_is_a_rest() -> None:
    notes = [Hummed(64, 0.3, 0.55), Hummed(62, 0.9, 0.55), Hummed(60, 2.1, 1.15)]  # a bar's rest before C
    melody = heard(notes)
    assert [n.pitch for n in melody.score.notes] == [64, 62, None, 60]


def test_the_printed_notation_is_the_score_that_is_sung() -> None:
    melody = heard(EIGHT, wave="saw")
    text = notation(melody.score)
    assert text.startswith("tempo=100 key=")
    assert "C4 D4/2 E4/2 G4 A4 G4/2 E4/2 D4*2" in text
    again = parse("/sing " + text).score
    assert [(n.pitch, round(n.start_s, 3), round(n.duration_s, 3)) for n in again.notes] == [
        (n.pitch, round(n.start_s, 3), round(n.duration_s, 3)) for n in melody.score.notes
    ]
