"""Lyrics fitted to a hummed tune: melisma for fewer syllables, repeated notes for more, and said so."""

from __future__ import annotations

import pytest

from anima.hearing.song import fit_lyrics, notation
from anima.voice.sing.notation import parse
from anima.voice.sing.score import Score, ScoreError

TUNE = parse("/sing tempo=100 | C4 D4/2 E4/2 G4 A4 G4/2 E4/2 D4*2").score  # eight notes


def syllables_on(score: Score) -> list[str | None]:
    return [n.syllable.text if n.syllable else None for n in score.sung_notes]


def test_as_many_syllables_as_notes_fit_as_they_are() -> None:
    fitted = fit_lyrics(TUNE, "twin-kle twin-kle lit-tle star now")
    assert fitted.notice == ""
    assert syllables_on(fitted.score) == ["twin", "kle", "twin", "kle", "lit", "tle", "star", "now"]


def test_fewer_syllables_hold_over_notes_and_the_reply_says_so() -> None:
    fitted = fit_lyrics(TUNE, "row your boat")
    assert fitted.notice == "3 syllables on 8 notes: 5 notes hold the syllable before (melisma)"
    sung = syllables_on(fitted.score)
    assert sung[0] == "row" and [s for s in sung if s] == ["row", "your", "boat"]
    assert [g.syllable.text for g in fitted.score.sung()] == ["row", "your", "boat"]  # all eight sung
    assert sum(len(g.notes) for g in fitted.score.sung()) == 8


def test_more_syllables_split_the_longest_notes_into_repeated_ones() -> None:
    fitted = fit_lyrics(TUNE, "the sea is wide and the sky is blue")
    assert fitted.notice == "9 syllables on 8 notes: 1 note split into repeated notes"
    notes = fitted.score.sung_notes
    assert len(notes) == 9 and notes[-1].pitch == notes[-2].pitch == 62  # the long D4 became two
    assert fitted.score.duration_s == pytest.approx(TUNE.duration_s)


def test_a_phrase_after_a_rest_starts_on_a_syllable() -> None:
    tune = parse("/sing | C4 D4 E4 R G4 A4").score
    fitted = fit_lyrics(tune, "la li")
    assert [g.syllable.text for g in fitted.score.sung()] == ["la", "li"]
    assert sum(len(g.notes) for g in fitted.score.sung()) == 5  # nothing left unsung after the rest


def test_far_too_many_syllables_for_the_tune_are_refused_with_what_to_do() -> None:
    with pytest.raises(ScoreError, match="too many for this tune of 8 notes: shorten the lyrics"):
        fit_lyrics(TUNE, " ".join(["la"] * 80))


def test_the_notation_of_a_fitted_song_reads_back_to_the_same_syllables() -> None:
    fitted = fit_lyrics(TUNE, "row your boat")
    again = parse("/sing " + notation(fitted.score)).score
    assert syllables_on(again) == syllables_on(fitted.score)
