"""The /sing notation: what a person types becomes notes in seconds with syllables, or an error that
points at the token to fix."""

from __future__ import annotations

import pytest

from anima.voice.sing import ScoreError, parse
from anima.voice.sing.notation import backing
from anima.voice.sing.score import MAX_SONG_S
from anima.voice.sing.syllables import english_syllables


def pitches(message: str) -> list[int | None]:
    return [n.pitch for n in parse(message).score.notes]


def test_notes_take_a_beat_each_at_the_tempo_and_slash_or_star_change_that() -> None:
    score = parse("/sing tempo=120 | C4 D4/2 E4*2 | do re mi").score
    assert [(n.start_s, n.duration_s) for n in score.notes] == [(0.0, 0.5), (0.5, 0.25), (0.75, 1.0)]
    assert [n.pitch for n in score.notes] == [60, 62, 64]


def test_a_dot_makes_a_note_half_as_long_again_and_a_tie_joins_two_notes() -> None:
    score = parse("/sing tempo=60 | G4. A4/2 C5~ C5/2 | la la la").score
    assert [(n.pitch, n.duration_s) for n in score.notes] == [(67, 1.5), (69, 0.5), (72, 1.5)]


def test_rests_take_time_and_no_syllable() -> None:
    score = parse("/sing tempo=60 | C4 R/2 D4 | one two").score
    assert [(n.pitch, n.start_s) for n in score.notes] == [(60, 0.0), (None, 1.0), (62, 1.5)]
    assert [g.syllable.text for g in score.sung()] == ["one", "two"]


def test_numbered_notes_count_from_the_key_and_a_dash_holds_a_note_one_more_beat() -> None:
    score = parse("/sing key=D tempo=60 | 1 3 5 - 1' 7, | 一 二 三 四 五").score
    assert [n.pitch for n in score.notes] == [62, 66, 69, 74, 61]
    assert score.notes[2].duration_s == 2.0


def test_an_underscore_holds_one_syllable_over_several_notes() -> None:
    sung = parse("/sing | C4 D4 E4 F4 | A _ _ men").score.sung()
    assert [(g.syllable.text, [n.pitch for n in g.notes]) for g in sung] == [
        ("A", [60, 62, 64]),
        ("men", [65]),
    ]


def test_chinese_characters_are_syllables_read_in_pinyin() -> None:
    sung = parse("/sing | C4 C4 G4 G4 | 银行行长").score.sung()
    assert [g.syllable.sound for g in sung] == ["yin2", "hang2", "hang2", "zhang3"]


def test_english_words_are_split_into_syllables_and_hyphens_say_where() -> None:
    assert english_syllables("twinkle") == ["twin", "kle"]
    assert english_syllables("wonder") == ["won", "der"]
    sung = parse("/sing | C4 C4 G4 G4 | twinkle twi-nkle").score.sung()
    assert [g.syllable.text for g in sung] == ["twin", "kle", "twi", "nkle"]


def test_lines_alternate_notes_and_lyrics_and_bar_lines_inside_them_are_ignored() -> None:
    message = "\n".join(
        [
            "/sing tempo=90",
            "C4 C4 G4 G4 | A4 A4 G4*2",
            "一 闪 一 闪 亮 晶 晶",
            "F4 F4 E4 E4 | D4 D4 C4*2",
            "满 天 都 是 小 星 星",
        ]
    )
    score = parse(message).score
    assert len(score.sung()) == 14
    assert score.duration_s == pytest.approx(16 * 60 / 90)


def test_transpose_moves_every_note() -> None:
    assert pitches("/sing transpose=-12 | C4 E4 | la la") == [48, 52]


def test_a_bad_note_is_named_with_its_column_and_shown_in_place() -> None:
    with pytest.raises(ScoreError) as error:
        parse("/sing tempo=96 | C4 D4 H4/2 G4/2 | 小 星 星 亮")
    assert "column 24, 'H4/2': not a note" in str(error.value)
    assert "C4 D4 »H4/2« G4/2" in str(error.value)


def test_more_notes_than_syllables_says_both_counts_and_how_to_fix_it() -> None:
    with pytest.raises(
        ScoreError, match=r"3 sung notes but the lyrics at column \d+ have 2 syllables \(小 星\)"
    ):
        parse("/sing | C4 D4 E4 | 小 星")


def test_a_message_may_start_with_the_bar_before_the_notes() -> None:
    with pytest.raises(ScoreError, match="'H4': not a note"):
        parse("| C4 H4 | la la")


def test_an_unknown_setting_is_refused_by_name() -> None:
    with pytest.raises(ScoreError, match="unknown setting 'speed'"):
        parse("/sing speed=2 | C4 | la")


def test_a_tie_between_different_pitches_is_refused() -> None:
    with pytest.raises(ScoreError, match="same pitch"):
        parse("/sing | C4~ D4 | la")


def test_words_before_the_notes_without_lyrics_are_a_topic_for_new_lyrics() -> None:
    request = parse("/sing tempo=80 about the sea at night | C4 D4 R E4")
    assert request.topic == "the sea at night"
    assert request.needs_lyrics


def test_a_score_without_lyrics_or_topic_cannot_be_sung() -> None:
    with pytest.raises(ScoreError, match="no lyrics"):
        parse("/sing | C4 D4").score.check()


def test_a_song_longer_than_the_limit_is_refused() -> None:
    with pytest.raises(ScoreError, match=f"lasts 32 s; at most {MAX_SONG_S:.0f} s"):
        parse("/sing tempo=30 | " + "C4 " * 16 + "| " + "la " * 16).score.check()


def test_notes_outside_the_singable_range_are_refused_with_the_range() -> None:
    with pytest.raises(ScoreError, match=r"note 2 \(C7\) is out of range: sing between C2 and C6"):
        parse("/sing | C4 C7 | la la").score.check()


def test_backing_on_asks_for_a_backing_track_and_other_values_are_refused() -> None:
    assert backing(parse("/sing backing=on | C4 | la").options)
    assert not backing(parse("/sing | C4 | la").options)
    with pytest.raises(ScoreError, match="backing is on or off"):
        parse("/sing backing=loud | C4 | la")
