"""Score files: MIDI (with lyric events) through mido, MusicXML (.musicxml, .xml, .mxl) with the stdlib.

The melody is the part that has lyrics (else the busiest one), reduced to one line (the highest note
where chords sound); a MIDI file's other parts become the backing track.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, replace
from pathlib import PurePath
from xml.etree import ElementTree

import mido

from anima.voice.sing.score import Note, Score, ScoreError, Syllable
from anima.voice.sing.syllables import one_syllable

SUFFIXES = (".mid", ".midi", ".kar", ".musicxml", ".xml", ".mxl")
MAX_FILE_BYTES = 1024 * 1024
_STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_KEYS = {"C": 0, "G": 7, "D": 2, "A": 9, "E": 4, "B": 11, "F#": 6, "C#": 1, "F": 5, "Bb": 10, "Eb": 3,
         "Ab": 8, "Db": 1, "Gb": 6, "Cb": 11}  # fmt: skip
DRUMS = 9  # MIDI channel 10


def is_score_file(name: str) -> bool:
    return PurePath(name).suffix.lower() in SUFFIXES


def read_score(data: bytes, name: str) -> Score:
    """The score in a MIDI or MusicXML file (lyrics may be missing: Score.has_lyrics says)."""
    if len(data) > MAX_FILE_BYTES:
        raise ScoreError(f"{name} is {len(data):,} bytes; a score file may have at most {MAX_FILE_BYTES:,}")
    suffix = PurePath(name).suffix.lower()
    if suffix in (".mid", ".midi", ".kar"):
        return read_midi(data, name)
    if suffix in (".musicxml", ".xml", ".mxl"):
        return read_musicxml(data, name)
    raise ScoreError(f"{name}: not a score file; send a MIDI (.mid) or MusicXML (.musicxml, .mxl) file")


@dataclass
class _Event:
    start: float  # beats or ticks, until converted
    end: float
    pitch: int
    lyric: Syllable | None = None
    has_lyric: bool = False


def _melody(events: list[_Event], seconds: object) -> tuple[Note, ...]:
    """One line: at each start the highest note; a note is cut where the next begins; gaps become rests."""
    to_s = seconds  # a callable from the file's time unit to seconds
    line: list[_Event] = []
    for event in sorted(events, key=lambda e: (e.start, -e.pitch)):
        if line and event.start == line[-1].start:
            continue  # a lower note of a chord
        if line and line[-1].end > event.start:
            line[-1].end = event.start
        line.append(event)
    notes: list[Note] = []
    at = 0.0
    for event in line:
        start, end = to_s(event.start), to_s(event.end)  # type: ignore[operator]
        if start - at > 0.02:
            notes.append(Note(None, at, start - at))
        notes.append(Note(event.pitch, start, end - start, event.lyric))
        at = end
    return tuple(notes)


def read_midi(data: bytes, name: str) -> Score:
    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
    except (OSError, ValueError, EOFError, KeyError, IndexError) as exc:
        raise ScoreError(f"{name} is not a readable MIDI file ({exc})") from None
    tempos: list[tuple[int, int]] = []  # (tick, microseconds per beat)
    key = 0
    parts: list[list[_Event]] = []
    for track in midi.tracks:
        tick = 0
        sounding: dict[tuple[int, int], _Event] = {}
        events: list[_Event] = []
        lyrics: dict[int, str] = {}
        for message in track:
            tick += message.time
            if message.type == "set_tempo":
                tempos.append((tick, message.tempo))
            elif message.type == "key_signature":
                key = _KEYS.get(message.key.removesuffix("m"), 0) if not message.key.endswith("m") else (
                    (_KEYS.get(message.key.removesuffix("m"), 0) + 3) % 12)  # fmt: skip
            elif message.type in ("lyrics", "text") and not message.text.startswith("@"):
                lyrics[tick] = lyrics.get(tick, "") + message.text
            elif message.type == "note_on" and message.velocity > 0 and message.channel != DRUMS:
                sounding[(message.channel, message.note)] = _Event(tick, tick, message.note)
            elif message.type in ("note_off", "note_on") and (message.channel, message.note) in sounding:
                event = sounding.pop((message.channel, message.note))
                event.end = tick
                events.append(event)
        # A word goes on after a syllable that ends with "-", or, in files that put spaces between words,
        # one that ends without a space.
        spaced = any(t.startswith(" ") or t.endswith(" ") for t in lyrics.values())
        goes_on = False
        for event in sorted(events, key=lambda e: e.start):
            if event.start in lyrics:
                text = lyrics[event.start]
                event.has_lyric = True
                event.lyric = one_syllable(text, joined=goes_on and not text.startswith((" ", "/", "\\")))
                goes_on = text.rstrip().endswith("-") or (spaced and not text.endswith((" ", "/", "\\")))
        if events:
            parts.append(events)
    if not parts:
        raise ScoreError(f"{name} has no notes")
    melody = max(parts, key=lambda p: (sum(e.has_lyric for e in p), len(p)))
    tempos.sort(key=lambda t: t[0])  # stable: of two changes at one tick, the later one wins
    if not tempos or tempos[0][0] > 0:
        tempos.insert(0, (0, 500_000))  # MIDI's default: 120 beats a minute
    seconds = _tick_seconds(tempos, midi.ticks_per_beat)
    others = [e for p in parts if p is not melody for e in p]
    backing = tuple(Note(e.pitch, seconds(e.start), seconds(e.end) - seconds(e.start)) for e in others)
    first_tempo = 60_000_000 / [t for at, t in tempos if at == 0][-1]
    score = Score(_melody(melody, seconds), tempo=first_tempo, key=key, accompaniment=backing)
    return _first_sung_from_zero(score)


def _tick_seconds(tempos: list[tuple[int, int]], ticks_per_beat: int):  # type: ignore[no-untyped-def]
    def seconds(tick: float) -> float:
        total, last_tick, last_tempo = 0.0, 0, 500_000
        for at, tempo in tempos:
            if at >= tick:
                break
            total += (at - last_tick) * last_tempo / ticks_per_beat / 1e6
            last_tick, last_tempo = at, tempo
        return total + (tick - last_tick) * last_tempo / ticks_per_beat / 1e6

    return seconds


def read_musicxml(data: bytes, name: str) -> Score:
    if data[:2] == b"PK":
        data = _unzip_mxl(data, name)
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise ScoreError(f"{name} is not readable MusicXML ({exc})") from None
    for element in root.iter():  # drop namespaces, if any
        element.tag = element.tag.rpartition("}")[2]
    if root.tag != "score-partwise":
        raise ScoreError(f"{name}: only partwise MusicXML is read (<score-partwise>), not <{root.tag}>")
    parts = root.findall("part")
    if not parts:
        raise ScoreError(f"{name} has no parts")
    part = next((p for p in parts if p.find(".//lyric") is not None), parts[0])
    tempo = next((float(s.get("tempo", "")) for s in root.iter("sound") if s.get("tempo")), 120.0)
    fifths = next((int(f.text or 0) for f in part.iter("fifths")), 0)
    events: list[_Event] = []
    divisions, cursor, voice = 1.0, 0.0, None  # cursor in beats
    tied = False
    for measure in part.findall("measure"):
        for element in measure:
            if element.tag == "attributes" and element.find("divisions") is not None:
                divisions = float(element.findtext("divisions") or 1)
            elif element.tag in ("backup", "forward"):
                step = float(element.findtext("duration") or 0) / divisions
                cursor += step if element.tag == "forward" else -step
            elif element.tag == "note":
                cursor, tied = _xml_note(element, divisions, cursor, events, tied, voice)
                voice = voice or element.findtext("voice") or "1"
    seconds_per_beat = 60.0 / tempo
    score = Score(_melody(events, lambda beats: beats * seconds_per_beat), tempo=tempo, key=(fifths * 7) % 12)
    return _first_sung_from_zero(score)


def _xml_note(
    note: ElementTree.Element,
    divisions: float,
    cursor: float,
    events: list[_Event],
    tied: bool,
    voice: str | None,
) -> tuple[float, bool]:
    """Add one <note> of the melody's voice; returns the new cursor and whether a tie goes on."""
    if note.find("grace") is not None:
        return cursor, tied
    length = float(note.findtext("duration") or 0) / divisions
    if note.find("chord") is not None:
        return cursor, tied  # the melody takes the chord's first note; the cursor already moved
    if voice is not None and (note.findtext("voice") or "1") != voice:
        return cursor + length, tied
    pitch = note.find("pitch")
    if pitch is not None:
        step = _STEPS[(pitch.findtext("step") or "C").upper()]
        midi = (
            12 * (int(pitch.findtext("octave") or 4) + 1) + step + round(float(pitch.findtext("alter") or 0))
        )
        ties = {t.get("type") for t in note.findall("tie")}
        if tied and "stop" in ties and events and events[-1].pitch == midi:
            events[-1].end = cursor + length
        else:
            lyric = note.find("lyric")
            text = lyric.findtext("text") if lyric is not None else None
            joined = lyric is not None and lyric.findtext("syllabic") in ("middle", "end")
            syllable = one_syllable(text, joined) if text else None
            events.append(_Event(cursor, cursor + length, midi, syllable, text is not None))
        tied = "start" in ties
    return cursor + length, tied


def _unzip_mxl(data: bytes, name: str) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            container = ElementTree.fromstring(archive.read("META-INF/container.xml"))
            rootfile = next(e for e in container.iter() if e.tag.rpartition("}")[2] == "rootfile")
            return archive.read(rootfile.get("full-path", ""))
    except (zipfile.BadZipFile, KeyError, StopIteration, ElementTree.ParseError) as exc:
        raise ScoreError(f"{name} is not a readable compressed MusicXML file ({exc})") from None


def _first_sung_from_zero(score: Score) -> Score:
    """Leading silence of a file (a count-in) is dropped: the song starts with its first note."""
    first = next((n.start_s for n in score.notes if n.pitch is not None), 0.0)
    if first <= 0:
        return score
    notes = tuple(replace(n, start_s=n.start_s - first) for n in score.notes if n.end_s > first)
    backing = tuple(replace(n, start_s=n.start_s - first) for n in score.accompaniment if n.start_s >= first)
    return replace(score, notes=notes, accompaniment=backing)
