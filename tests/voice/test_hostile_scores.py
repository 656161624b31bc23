"""Hostile scores and texts: each is refused with a line naming what to fix (its bar, track, tick or
token), within 2 s of CPU and 200 MB over baseline, measured in a child process; never a KeyError,
ValueError or ZeroDivisionError, never a traceback from `anima sing`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from anima.characters.macros import expand
from anima.voice import VoiceNote, VoiceService
from anima.voice.sing import ScoreError, parse
from anima.voice.sing.files import MAX_XML_BYTES, MAX_XML_ELEMENTS, read_score
from anima.voice.sing.score import MAX_BACKING_NOTES, MAX_NOTES, MAX_SYLLABLES, MIN_NOTE_S, Note, Score
from anima.voice.sing.singer import BUSY, Singer, busy_line
from anima.voice.text import script
from tests.conftest import REPO
from tests.voice import hostile
from tests.voice.conftest import card
from tests.voice.hostile import Cost, measure, musicxml, xml_note

CPU_S = 2.0
RSS_MB = 200.0


def refused(cost: Cost, *phrases: str) -> None:
    """What the person sees: a ScoreError with these words; what the host pays: bounded."""
    assert cost.outcome == "ScoreError", cost
    for phrase in phrases:
        assert phrase in cost.message, cost.message
    assert cost.cpu_s <= CPU_S and cost.rss_mb <= RSS_MB, cost


# ---------------------------------------------------------------- compressed MusicXML


def test_an_mxl_zip_bomb_is_refused_from_its_headers() -> None:
    refused(
        measure("score", hostile.mxl_bomb(64), "bomb.mxl"), "bomb.mxl", "inflates to", f"{MAX_XML_BYTES:,}"
    )


def test_an_mxl_whose_headers_understate_its_size_is_refused_while_inflating() -> None:
    refused(
        measure("score", hostile.mxl_bomb(64, lie_about_size=True), "liar.mxl"), "liar.mxl", "score.musicxml"
    )


def test_an_mxl_whose_members_together_inflate_too_far_is_refused() -> None:
    refused(measure("score", hostile.mxl_many_members(), "parts.mxl"), "parts.mxl inflates to", "in all")


def test_an_mxl_compressed_with_another_method_is_refused() -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("META-INF/container.xml", hostile.CONTAINER)
    with pytest.raises(ScoreError, match=r"compressed with method 12; \.mxl files use deflate"):
        read_score(buffer.getvalue(), "song.mxl")


# ---------------------------------------------------------------- XML


def test_an_xml_entity_bomb_is_refused_without_expanding_it() -> None:
    refused(
        measure("score", hostile.xml_entity_bomb(), "laughs.musicxml"),
        "laughs.musicxml declares XML entities",
    )


def test_an_external_entity_is_refused_and_nothing_is_read_through_it() -> None:
    refused(measure("score", hostile.xml_external_entity(), "xxe.musicxml"), "declares XML entities")


def test_a_flood_of_elements_is_refused_at_the_element_cap() -> None:
    refused(
        measure("score", hostile.xml_flood(), "flood.musicxml"),
        f"more than {MAX_XML_ELEMENTS:,} XML elements",
    )


def test_deep_nesting_is_refused() -> None:
    refused(measure("score", hostile.xml_deep(), "deep.musicxml"), "nests XML elements more than 64 deep")


def test_ten_thousand_musicxml_notes_are_refused() -> None:
    refused(
        measure("score", hostile.xml_many_notes(10_000), "notes.musicxml"), "10,000 notes", "at most 5,000"
    )


def test_a_real_musicxml_file_with_a_doctype_is_still_read() -> None:
    doctype = (
        b'<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN" '
        b'"http://www.musicxml.org/dtds/partwise.dtd">\n'
    )
    data = musicxml(xml_note("C"), xml_note("D")).replace(b"\n", b"\n" + doctype, 1)
    score = read_score(data, "doctype.musicxml")
    assert [n.pitch for n in score.sung_notes] == [60, 62]


# ---------------------------------------------------------------- MIDI


def test_a_tempo_map_of_100k_changes_is_refused_in_milliseconds() -> None:
    refused(measure("score", hostile.midi_tempo_map(100_000), "tempi.mid"), "more than 1,000 tempo changes")


def test_a_tempo_map_at_the_cap_is_read_in_one_pass_and_sings() -> None:
    cost = measure("score", hostile.midi_song(40, tempos=hostile.tempo(0, 400_000) * 1000), "tempi.mid")
    assert cost.outcome == "ok" and cost.cpu_s <= CPU_S and cost.rss_mb <= RSS_MB, cost


def test_tempo_changes_time_the_notes_after_them() -> None:
    """120 bpm for the first beat, then 60: the second quarter note starts at 0.5 s and lasts 1 s."""
    track = (
        hostile.tempo(0, 500_000)
        + hostile.lyric(0, "la ") + hostile.note_on(0, 60)
        + hostile.tempo(480, 1_000_000) + hostile.note_off(0, 60)
        + hostile.lyric(0, "li ") + hostile.note_on(0, 62) + hostile.note_off(480, 62)
    )  # fmt: skip
    notes = read_score(hostile.smf(track), "two.mid").sung_notes
    assert [(n.start_s, n.duration_s) for n in notes] == [(0.0, 0.5), (0.5, 1.0)]


def test_ten_thousand_midi_notes_are_refused() -> None:
    refused(measure("score", hostile.midi_song(10_000), "notes.mid"), "more than 5,000 notes")


def test_a_melody_under_the_file_cap_but_over_the_song_cap_is_refused_before_it_is_sung() -> None:
    cost = measure("score", hostile.midi_song(1_200, step=120), "fast.mid")
    refused(cost, f"1,200 notes and rests; at most {MAX_NOTES}")


def test_a_lyric_of_300k_characters_is_refused_without_reading_it_all() -> None:
    data = hostile.smf(hostile.lyric(0, "星" * 300_000) + hostile.note_on(0, 60) + hostile.note_off(480, 60))
    refused(measure("score", data, "long.mid"), "note 1 (C4 at 0.00 s) has the syllable", "longer than 24")


# ---------------------------------------------------------------- malformed values, by name


def _bad_midi_tempo() -> bytes:
    return hostile.smf(
        hostile.tempo(0, 0) + hostile.lyric(0, "la") + hostile.note_on(0, 60) + hostile.note_off(480, 60)
    )


MALFORMED = {
    "step H": (musicxml(xml_note(), xml_note(step="H")), "x.musicxml, bar 2: <step> is 'H'"),
    "divisions 0": (musicxml(xml_note(), divisions="0"), "bar 1: <divisions> is '0'"),
    "divisions NaN": (musicxml(xml_note(), divisions="NaN"), "bar 1: <divisions> is 'NaN'"),
    "duration NaN": (musicxml(xml_note(), xml_note(duration="NaN")), "bar 2: <duration> is 'NaN'"),
    "duration inf": (musicxml(xml_note(), xml_note(duration="inf")), "bar 2: <duration> is 'inf'"),
    "duration -1": (musicxml(xml_note(duration="-1")), "bar 1: <duration> is '-1'"),
    "tempo 0": (musicxml(xml_note(), tempo="0"), "<sound tempo='0'>: a tempo is 10 to 1000"),
    "tempo NaN": (musicxml(xml_note(), tempo="nan"), "<sound tempo='nan'>"),
    "octave x": (musicxml(xml_note(octave="x")), "bar 1: <octave> is 'x'"),
    "alter inf": (musicxml(xml_note(alter="inf")), "bar 1: <alter> is 'inf'"),
    "fifths 99": (musicxml(xml_note(), fifths="99"), "bar 1: <fifths> is '99'"),
    "backup": (musicxml(xml_note() + "<backup><duration>8</duration></backup>"), "bar 1: <backup> goes back"),
    "garbage XML": (b"<score-partwise><part><<<", "x.musicxml is not readable MusicXML"),
    "not partwise": (b"<score-timewise/>", "only partwise MusicXML is read"),
}
MALFORMED_MIDI = {
    "tempo 0": (_bad_midi_tempo(), "x.mid, track 1, tick 0: tempo 0"),
    "ticks_per_beat 0": (hostile.smf(hostile.note_on(0, 60), ticks_per_beat=0), "ticks_per_beat is 0"),
    "SMPTE time": (hostile.smf(hostile.note_on(0, 60), ticks_per_beat=0xE728), "SMPTE"),
    "garbage": (b"not a midi file at all", "x.mid is not a readable MIDI file (no MThd header)"),
    "cut short": (hostile.midi_song(4)[:-9], "x.mid is not a readable MIDI file"),
    "9 sharps": (
        hostile.smf(hostile.meta(0, 0x59, bytes([9, 0]))),
        "track 1, tick 0: a key signature with 9 sharps",
    ),
    "tempo of 2 bytes": (hostile.smf(hostile.meta(0, 0x51, b"\x01\x02")), "a tempo event holds 3 bytes"),
    "data byte 200": (hostile.smf(b"\x00\x90\x3c\xc8"), "data byte above 127"),
    "no status": (hostile.smf(b"\x00\x3c\x40"), "without a status byte"),
    "5-byte delta": (hostile.smf(b"\x81\x81\x81\x81\x01\x90\x3c\x40"), "longer than four bytes"),
    "chunk past end": (hostile.smf(hostile.note_on(0, 60))[:-2], "past the file's end"),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_a_malformed_musicxml_value_is_a_score_error_naming_its_bar(case: str) -> None:
    data, message = MALFORMED[case]
    with pytest.raises(ScoreError) as error:
        read_score(data, "x.musicxml").check()
    assert message in str(error.value)


@pytest.mark.parametrize("case", MALFORMED_MIDI, ids=list(MALFORMED_MIDI))
def test_a_malformed_midi_value_is_a_score_error_naming_its_track_and_tick(case: str) -> None:
    data, message = MALFORMED_MIDI[case]
    with pytest.raises(ScoreError) as error:
        read_score(data, "x.mid").check()
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("notation", "message"),
    [
        ("/sing | C4/0 | la", "C4/0: a length factor must be above 0"),
        ("/sing tempo=nan | C4 | la", "tempo=nan: tempo is between 20 and 400"),
        ("/sing tempo=0 | C4 | la", "tempo=0: tempo is between 20 and 400"),
        ("/sing transpose=1e999 | C4 | la", "transpose=1e999: transpose is between -24 and 24"),
        ("/sing | C4 H4 | la la", "column 12, 'H4': not a note"),
        ("/sing | C4/1000 | la", "note 1 (C4 at 0.00 s) lasts 0.001 s; a sung note lasts at least"),
        (
            "/sing | C4 | " + "b" * 40,
            "has the syllable 'bbbbbbbbbbbbbbbbbbbbbbbb'…, longer than 24 characters",
        ),
    ],
)
def test_a_malformed_notation_value_is_a_score_error_naming_its_token(notation: str, message: str) -> None:
    with pytest.raises(ScoreError) as error:
        parse(notation).score.check()
    assert message in str(error.value)


def test_a_notation_of_ten_thousand_notes_is_refused_before_it_is_parsed() -> None:
    notation = "/sing | " + "C4 " * 10_000 + "| " + "la " * 10_000
    refused(measure("notation", notation.encode()), "the notation is 60,010 characters; at most 6,000")


def test_more_distinct_syllables_than_one_song_may_have_are_refused() -> None:
    words = [f"{c}{v}" for c in "bdfgklmnprst" for v in "aeiou"][: MAX_SYLLABLES + 1]
    score = parse(f"/sing tempo=240 | {'C4 ' * len(words)}| {' '.join(words)}").score
    with pytest.raises(ScoreError, match=f"{MAX_SYLLABLES + 1} different syllables; at most {MAX_SYLLABLES}"):
        score.check()


def test_a_backing_track_too_big_to_render_is_refused_only_when_backing_is_asked_for() -> None:
    score = parse("/sing | C4 D4 | la li").score
    crowded = Score(
        score.notes, accompaniment=tuple(Note(48, 0.0, 1.0) for _ in range(MAX_BACKING_NOTES + 1))
    )
    crowded.check()
    with pytest.raises(ScoreError, match="sing it without backing=on"):
        crowded.check(backing=True)


def test_a_note_of_no_valid_length_is_refused_by_number() -> None:
    score = parse("/sing | C4 D4 | la li").score
    broken = Score((score.notes[0], Note(62, 0.6, float("nan"), score.notes[1].syllable)))
    with pytest.raises(ScoreError, match=r"note 2 has no valid time"):
        broken.check()
    assert MIN_NOTE_S > 0


# ---------------------------------------------------------------- speech text


def test_say_on_a_megabyte_without_spaces_is_cut_before_it_is_prepared() -> None:
    cost = measure("say", hostile.no_space_text())
    assert cost.outcome == "ok" and cost.cpu_s <= CPU_S and cost.rss_mb <= RSS_MB, cost
    spoken = sum(len(s.text) for s in script(hostile.no_space_text().decode(), "en", 1500))
    assert 0 < spoken <= 1501


# ---------------------------------------------------------------- the singer's queue


async def test_a_full_singer_queue_answers_busy_at_once_and_sings_what_it_admitted(
    voice: VoiceService,
) -> None:
    singer = Singer(voice, max_concurrency=1, max_waiting=0)
    aiko = card()
    score = parse("/sing | C4 D4 | la li").score
    first = asyncio.create_task(singer.sing(aiko, score))
    await asyncio.sleep(0)  # one turn of the loop: the first song is admitted and renders on its thread
    assert singer.busy
    assert await singer.sing(aiko, parse("/sing | E4 | lo").score) is BUSY
    assert isinstance(await first, VoiceNote)
    assert not singer.busy
    singer.close()


def test_the_busy_answer_is_one_of_the_cards_busy_lines() -> None:
    aiko = card()
    lines = {expand(line, {"char": aiko.name, "user": "Ann"}) for line in aiko.busy}
    assert busy_line(aiko, "Ann") in lines


# ---------------------------------------------------------------- the CLI


def _sing(tmp_path: Path, name: str, data: bytes) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.yaml"
    config.write_text(f"characters_dir: {REPO / 'characters'}\ndefault_character: aiko\n")
    (tmp_path / name).write_bytes(data)
    anima = str(Path(sys.executable).parent / "anima")
    command = [anima, "--config", str(config), "sing", "aiko", str(tmp_path / name)]
    command += ["-o", str(tmp_path / "song.ogg")]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("bomb.mxl", hostile.mxl_bomb(16), "bomb.mxl: 'score.musicxml' inflates to"),
        ("tempo0.mid", _bad_midi_tempo(), "tempo0.mid, track 1, tick 0: tempo 0"),
    ],
    ids=["mxl bomb", "tempo 0"],
)
def test_anima_sing_with_a_hostile_file_prints_one_line_and_fails(
    tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    result = _sing(tmp_path, name, data)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert not (tmp_path / "song.ogg").exists()
