"""Score files: MIDI lyric events and MusicXML lyrics become the syllables of the melody."""

from __future__ import annotations

import io

import mido
import pytest

from anima.voice.sing import ScoreError
from anima.voice.sing.files import read_score
from tests.conftest import REPO

SCORES = REPO / "tests" / "data" / "scores"


def test_a_midi_files_lyric_events_are_sung_on_its_melody_and_its_other_part_is_the_backing() -> None:
    score = read_score((SCORES / "twinkle_en.mid").read_bytes(), "twinkle_en.mid")
    assert [g.syllable.text for g in score.sung()][:4] == ["Twin", "kle", "twin", "kle"]
    assert [n.pitch for n in score.sung_notes][:3] == [60, 60, 67]
    assert score.tempo == pytest.approx(100)
    assert score.notes[0].duration_s == pytest.approx(0.6)
    assert any(n.pitch is None for n in score.notes)  # the rest after "star"
    assert len(score.accompaniment) == 12


def test_a_musicxml_tie_makes_one_note_and_a_note_without_lyric_holds_the_syllable() -> None:
    score = read_score((SCORES / "xiaoxingxing_zh.musicxml").read_bytes(), "x.musicxml")
    sung = score.sung()
    assert [g.syllable.text for g in sung] == list("一闪一闪亮晶晶满天都是小星星")
    held = next(g for g in sung if g.syllable.text == "天")
    assert [n.pitch for n in held.notes] == [64, 65]
    tied = sung[6]
    assert tied.notes[0].duration_s == pytest.approx(1.25)


def test_a_midi_file_without_lyrics_is_read_as_a_melody_that_needs_them() -> None:
    midi = mido.MidiFile()
    track = mido.MidiTrack([mido.Message("note_on", note=60), mido.Message("note_off", note=60, time=480)])
    midi.tracks.append(track)
    buffer = io.BytesIO()
    midi.save(file=buffer)
    score = read_score(buffer.getvalue(), "tune.mid")
    assert not score.has_lyrics
    with pytest.raises(ScoreError, match="no lyrics"):
        score.check()


def test_a_file_that_is_not_a_score_is_refused_with_what_to_send() -> None:
    with pytest.raises(ScoreError, match="not a readable MIDI file"):
        read_score(b"not midi at all", "song.mid")
    with pytest.raises(ScoreError, match="send a MIDI"):
        read_score(b"...", "song.mp3")


def test_a_files_syllables_join_back_into_the_words_the_safety_checks_read() -> None:
    score = read_score((SCORES / "twinkle_en.mid").read_bytes(), "twinkle_en.mid")
    assert score.lyrics() == "Twinkle twinkle little star How I wonder what you are"
