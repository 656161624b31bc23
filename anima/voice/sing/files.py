"""Score files: MIDI (with lyric events) and MusicXML (.musicxml, .xml, .mxl), read under hard limits.

The melody is the part that has lyrics (else the busiest one), reduced to one line (the highest note
where chords sound); a MIDI file's other parts become the backing track. Every size and count is
bounded before the work it causes (a compressed file's members from their headers and again while
inflating, an XML file's elements while parsing), XML entity declarations are refused, and every
malformed value is a ScoreError naming its bar, track or tick.
"""

from __future__ import annotations

import bisect
import io
import itertools
import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import PurePath
from xml.etree import ElementTree

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException

from anima.voice.sing import midi
from anima.voice.sing.score import Note, Score, ScoreError, Syllable
from anima.voice.sing.syllables import one_syllable

SUFFIXES = (".mid", ".midi", ".kar", ".musicxml", ".xml", ".mxl")
MAX_FILE_BYTES = 1024 * 1024
MAX_XML_BYTES = 4 * 1024 * 1024  # one MusicXML document, inflated
MAX_MXL_BYTES = 8 * 1024 * 1024  # all members of an .mxl archive, inflated
MAX_MXL_MEMBERS = 64
MAX_XML_ELEMENTS = 150_000
MAX_XML_DEPTH = 64
MAX_XML_NOTES = 5_000
_STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_DEFAULT_TEMPO = 500_000  # MIDI's: 120 beats a minute


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


def _melody(events: list[_Event], seconds: Callable[[float], float]) -> tuple[Note, ...]:
    """One line: at each start the highest note; a note is cut where the next begins; gaps become rests."""
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
        start, end = seconds(event.start), seconds(event.end)
        if start - at > 0.02:
            notes.append(Note(None, at, start - at))
        notes.append(Note(event.pitch, start, end - start, event.lyric))
        at = end
    return tuple(notes)


def read_midi(data: bytes, name: str) -> Score:
    file = midi.read(data, name)
    parts: list[list[_Event]] = []
    for track in file.tracks:
        events = [_Event(n.start, n.end, n.pitch) for n in track.notes]
        lyrics: dict[float, str] = {tick: "".join(texts) for tick, texts in track.lyrics.items()}
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
    tempos = sorted(file.tempos, key=lambda t: t[0])  # stable: of two changes at one tick, the later one wins
    if not tempos or tempos[0][0] > 0:
        tempos.insert(0, (0, _DEFAULT_TEMPO))
    seconds = _tempo_map(tempos, file.ticks_per_beat)
    others = [e for p in parts if p is not melody for e in p]
    backing = tuple(Note(e.pitch, seconds(e.start), seconds(e.end) - seconds(e.start)) for e in others)
    first_tempo = 60_000_000 / [t for at, t in tempos if at == 0][-1]
    score = Score(_melody(melody, seconds), tempo=first_tempo, key=file.key, accompaniment=backing)
    return _first_sung_from_zero(score)


def _tempo_map(tempos: list[tuple[int, int]], ticks_per_beat: int) -> Callable[[float], float]:
    """Ticks to seconds through the tempo changes (sorted by tick, the first at tick 0): the seconds at
    each change are added up once, so each conversion is a binary search, not a walk over the map."""
    ticks = [at for at, _ in tempos]
    starts = [0.0]
    for (at, tempo), (following, _) in itertools.pairwise(tempos):
        starts.append(starts[-1] + (following - at) * tempo / ticks_per_beat / 1e6)

    def seconds(tick: float) -> float:
        i = max(bisect.bisect_left(ticks, tick) - 1, 0)  # the last change before `tick`
        return starts[i] + (tick - ticks[i]) * tempos[i][1] / ticks_per_beat / 1e6

    return seconds


class _CountingBuilder(ElementTree.TreeBuilder):
    """Builds the tree, refusing a document with more elements or deeper nesting than a score needs."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.elements = 0
        self.depth = 0

    def start(self, tag: str, attrs: dict[str, str]) -> ElementTree.Element:
        self.elements += 1
        self.depth += 1
        if self.elements > MAX_XML_ELEMENTS:
            raise ScoreError(
                f"{self.name} has more than {MAX_XML_ELEMENTS:,} XML elements; a song needs far fewer"
            )
        if self.depth > MAX_XML_DEPTH:
            raise ScoreError(f"{self.name} nests XML elements more than {MAX_XML_DEPTH} deep")
        return super().start(tag, attrs)

    def end(self, tag: str) -> ElementTree.Element:
        self.depth -= 1
        return super().end(tag)


def _parse_xml(data: bytes, name: str) -> ElementTree.Element:
    """The document's root; entity declarations and external references are refused (no XML bombs)."""
    parser = safe_xml.DefusedXMLParser(target=_CountingBuilder(name))
    try:
        parser.feed(data)
        root: ElementTree.Element = parser.close()
    except DefusedXmlException:
        raise ScoreError(
            f"{name} declares XML entities, which scores never need and which are refused; "
            "export it again from your notation program"
        ) from None
    except ElementTree.ParseError as exc:
        raise ScoreError(f"{name} is not readable MusicXML ({exc})") from None
    for element in root.iter():  # drop namespaces, if any
        element.tag = element.tag.rpartition("}")[2]
    return root


def read_musicxml(data: bytes, name: str) -> Score:
    if data[:2] == b"PK":
        data = _unzip_mxl(data, name)
    root = _parse_xml(data, name)
    if root.tag != "score-partwise":
        raise ScoreError(f"{name}: only partwise MusicXML is read (<score-partwise>), not <{root.tag[:40]}>")
    parts = root.findall("part")
    if not parts:
        raise ScoreError(f"{name} has no parts")
    part = next((p for p in parts if p.find(".//lyric") is not None), parts[0])
    notes = sum(1 for _ in part.iter("note"))
    if notes > MAX_XML_NOTES:
        raise ScoreError(
            f"{name} has {notes:,} notes in its melody's part; at most {MAX_XML_NOTES:,} are read"
        )
    tempo = _tempo(root, name)
    fifths = 0
    events: list[_Event] = []
    divisions, cursor, voice = 1.0, 0.0, None  # cursor in beats
    tied = False
    for number, measure in enumerate(part.findall("measure"), 1):
        where = f"{name}, bar {_shown(measure.get('number')) or number}"
        for element in measure:
            if element.tag == "attributes":
                if element.find("divisions") is not None:
                    divisions = _number(element, "divisions", where, "a number above 0", above=0.0)
                if element.find("key/fifths") is not None and not fifths:
                    fifths = int(_number(element, "key/fifths", where, "a whole number from -7 to 7", -7, 7))
            elif element.tag in ("backup", "forward"):
                step = _number(element, "duration", where, "a length of 0 or more", 0.0) / divisions
                cursor += step if element.tag == "forward" else -step
                if cursor < -1e-9:
                    raise ScoreError(f"{where}: <backup> goes back before the start of the piece")
            elif element.tag == "note":
                cursor, tied = _xml_note(element, divisions, cursor, events, tied, voice, where)
                voice = voice or element.findtext("voice") or "1"
    seconds_per_beat = 60.0 / tempo
    score = Score(_melody(events, lambda beats: beats * seconds_per_beat), tempo=tempo, key=(fifths * 7) % 12)
    return _first_sung_from_zero(score)


def _tempo(root: ElementTree.Element, name: str) -> float:
    """The first <sound tempo="…"> (beats a minute), or 120."""
    raw = next((s.get("tempo", "") for s in root.iter("sound") if s.get("tempo")), None)
    if raw is None:
        return 120.0
    try:
        tempo = float(raw)
    except ValueError:
        tempo = math.nan
    if not 10 <= tempo <= 1000:  # NaN fails this too
        raise ScoreError(f"{name}: <sound tempo={_shown(raw)!r}>: a tempo is 10 to 1000 beats a minute")
    return tempo


def _number(
    element: ElementTree.Element, path: str, where: str, expected: str, low: float = -math.inf,
    high: float = math.inf, above: float | None = None,
) -> float:  # fmt: skip
    """A finite number in [low, high] (and > `above`), else a ScoreError naming the bar and the value."""
    raw = element.findtext(path) or ""
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and low <= value <= high and (above is None or value > above)):
        tag = path.rpartition("/")[2]
        raise ScoreError(f"{where}: <{tag}> is {_shown(raw)!r}; it should be {expected}")
    return value


def _shown(raw: str | None) -> str:
    """A value from the file, short enough to quote in a chat."""
    raw = (raw or "").strip()
    return raw if len(raw) <= 20 else raw[:20] + "…"


def _xml_note(
    note: ElementTree.Element,
    divisions: float,
    cursor: float,
    events: list[_Event],
    tied: bool,
    voice: str | None,
    where: str,
) -> tuple[float, bool]:
    """Add one <note> of the melody's voice; returns the new cursor and whether a tie goes on."""
    if note.find("grace") is not None:
        return cursor, tied
    length = 0.0
    if note.find("duration") is not None:
        length = _number(note, "duration", where, "a length of 0 or more", 0.0) / divisions
    if note.find("chord") is not None:
        return cursor, tied  # the melody takes the chord's first note; the cursor already moved
    if voice is not None and (note.findtext("voice") or "1") != voice:
        return cursor + length, tied
    pitch = note.find("pitch")
    if pitch is not None:
        step = (pitch.findtext("step") or "C").strip().upper()
        if step not in _STEPS:
            raise ScoreError(f"{where}: <step> is {_shown(step)!r}; a step is a note name from A to G")
        octave = 4.0
        if pitch.find("octave") is not None:
            octave = _number(pitch, "octave", where, "a whole number from 0 to 9", 0, 9)
        alter = 0.0
        if pitch.find("alter") is not None:
            alter = _number(pitch, "alter", where, "a number of semitones from -2 to 2", -2, 2)
        midi_pitch = 12 * (int(octave) + 1) + _STEPS[step] + round(alter)
        ties = {t.get("type") for t in note.findall("tie")}
        if tied and "stop" in ties and events and events[-1].pitch == midi_pitch:
            events[-1].end = cursor + length
        else:
            lyric = note.find("lyric")
            text = lyric.findtext("text") if lyric is not None else None
            joined = lyric is not None and lyric.findtext("syllabic") in ("middle", "end")
            syllable = one_syllable(text, joined) if text else None
            events.append(_Event(cursor, cursor + length, midi_pitch, syllable, text is not None))
        tied = "start" in ties
    return cursor + length, tied


def _unzip_mxl(data: bytes, name: str) -> bytes:
    """The MusicXML document inside an .mxl archive. Sizes are checked in the archive's directory first
    and counted again while inflating (a directory can lie); only deflate and stored members are read."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise ScoreError(f"{name} is not a readable compressed MusicXML file ({exc})") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MXL_MEMBERS:
            raise ScoreError(
                f"{name} holds {len(members):,} files; a compressed score holds at most {MAX_MXL_MEMBERS}"
            )
        for member in members:
            where = f"{name}: {_shown(member.filename)!r}"
            if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ScoreError(
                    f"{where} is compressed with method {member.compress_type}; .mxl files use deflate"
                )
            if member.flag_bits & 0x1:
                raise ScoreError(f"{where} is encrypted; send the score without a password")
            if member.file_size > MAX_XML_BYTES:
                raise ScoreError(f"{where} inflates to {member.file_size:,} bytes; at most {MAX_XML_BYTES:,}")
        total = sum(m.file_size for m in members)
        if total > MAX_MXL_BYTES:
            raise ScoreError(f"{name} inflates to {total:,} bytes in all; at most {MAX_MXL_BYTES:,}")
        budget = _Inflated(name, MAX_MXL_BYTES)
        container = _parse_xml(
            budget.read(archive, "META-INF/container.xml"), f"{name} (META-INF/container.xml)"
        )
        rootfile = next((e for e in container.iter() if e.tag == "rootfile"), None)
        path = rootfile.get("full-path", "") if rootfile is not None else ""
        if not path:
            raise ScoreError(f"{name}: its META-INF/container.xml names no <rootfile full-path=…>")
        return budget.read(archive, path)


class _Inflated:
    """Counts inflated bytes against the per-member and the archive's total limits as they come out."""

    def __init__(self, name: str, total: int) -> None:
        self.name = name
        self.left = total

    def read(self, archive: zipfile.ZipFile, member: str) -> bytes:
        limit = min(MAX_XML_BYTES, self.left)
        chunks: list[bytes] = []
        size = 0
        try:
            with archive.open(member) as stream:
                while chunk := stream.read(64 * 1024):
                    size += len(chunk)
                    if size > limit:
                        raise ScoreError(f"{self.name}: {_shown(member)!r} inflates past {limit:,} bytes")
                    chunks.append(chunk)
        except KeyError:
            raise ScoreError(f"{self.name} has no {_shown(member)!r} inside") from None
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError, OSError, EOFError) as exc:
            raise ScoreError(f"{self.name} is not a readable compressed MusicXML file ({exc})") from None
        self.left -= size
        return b"".join(chunks)


def _first_sung_from_zero(score: Score) -> Score:
    """Leading silence of a file (a count-in) is dropped: the song starts with its first note."""
    first = next((n.start_s for n in score.notes if n.pitch is not None), 0.0)
    if first <= 0:
        return score
    notes = tuple(replace(n, start_s=n.start_s - first) for n in score.notes if n.end_s > first)
    backing = tuple(replace(n, start_s=n.start_s - first) for n in score.accompaniment if n.start_s >= first)
    return replace(score, notes=notes, accompaniment=backing)
