"""Standard MIDI Files read in one pass, with every count bounded before the work it would cause.

Only what singing uses is kept: notes, tempo changes, the key signature and lyric/text events. A
general MIDI library builds an object per event and checks nothing a hostile file can inflate, so a
small file could cost seconds; here each event costs a few bytecodes and the caps stop early.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from anima.voice.sing.score import ScoreError

MAX_TRACKS = 64
MAX_EVENTS = 60_000  # all events of all tracks: ~0.1 s to read
MAX_TEMPO_EVENTS = 1_000
MAX_NOTES = 5_000  # notes of all parts, melody and backing
DRUMS = 9  # MIDI channel 10


@dataclass
class MidiNote:
    start: int  # ticks
    end: int
    pitch: int
    channel: int


@dataclass
class MidiTrack:
    notes: list[MidiNote] = field(default_factory=list)
    lyrics: dict[int, list[str]] = field(default_factory=dict)  # tick → text events there, in order


@dataclass
class MidiFile:
    ticks_per_beat: int
    tracks: list[MidiTrack]
    tempos: list[tuple[int, int]]  # (tick, microseconds per beat), in file order
    key: int  # pitch class of the (relative major) tonic


class _Reader:
    def __init__(self, data: bytes, name: str) -> None:
        self.data = data
        self.name = name
        self.at = 0
        self.events = 0
        self.notes = 0

    def fail(self, why: str) -> ScoreError:
        return ScoreError(f"{self.name} is not a readable MIDI file ({why})")

    def take(self, count: int, end: int, what: str) -> bytes:
        if count < 0 or self.at + count > end:
            raise self.fail(f"{what} at byte {self.at} runs past the end of its chunk")
        chunk = self.data[self.at : self.at + count]
        self.at += count
        return chunk

    def byte(self, end: int, what: str) -> int:
        if self.at >= end:
            raise self.fail(f"{what} at byte {self.at} runs past the end of its chunk")
        value = self.data[self.at]
        self.at += 1
        return value

    def number(self, end: int, what: str) -> int:
        """A variable-length quantity: at most four bytes, seven bits each."""
        value = 0
        for _ in range(4):
            b = self.byte(end, what)
            value = (value << 7) | (b & 0x7F)
            if b < 0x80:
                return value
        raise self.fail(f"{what} at byte {self.at} is longer than four bytes")


def read(data: bytes, name: str) -> MidiFile:
    """The notes, tempo map, key and lyrics of a Standard MIDI File. Raises ScoreError."""
    reader = _Reader(data, name)
    if data[:4] != b"MThd" or len(data) < 14:
        raise reader.fail("no MThd header")
    length = int.from_bytes(data[4:8], "big")
    if length < 6:
        raise reader.fail(f"its MThd header is {length} bytes; it has at least 6")
    division = int.from_bytes(data[12:14], "big")
    if division & 0x8000:
        raise ScoreError(f"{name} counts time in SMPTE frames, which is not read; save it with beats (PPQ)")
    if division == 0:
        raise ScoreError(f"{name}: ticks_per_beat is 0 in its header; a beat needs at least one tick")
    reader.at = 8 + length
    tracks: list[MidiTrack] = []
    tempos: list[tuple[int, int]] = []
    key = 0
    while reader.at + 8 <= len(data):
        kind = data[reader.at : reader.at + 4]
        size = int.from_bytes(data[reader.at + 4 : reader.at + 8], "big")
        reader.at += 8
        end = reader.at + size
        if end > len(data):
            raise reader.fail(
                f"chunk {kind!r} at byte {reader.at - 8} claims {size:,} bytes past the file's end"
            )
        if kind != b"MTrk":
            reader.at = end  # unknown chunks are skipped, as the standard says
            continue
        if len(tracks) == MAX_TRACKS:
            raise ScoreError(f"{name} has more than {MAX_TRACKS} tracks")
        track, key = _track(reader, end, len(tracks) + 1, tempos, key)
        tracks.append(track)
        reader.at = end
    return MidiFile(division, tracks, tempos, key)


def _track(
    reader: _Reader, end: int, number: int, tempos: list[tuple[int, int]], key: int
) -> tuple[MidiTrack, int]:
    name = reader.name
    track = MidiTrack()
    sounding: dict[tuple[int, int], MidiNote] = {}
    tick = 0
    status = 0
    while reader.at < end:
        reader.events += 1
        if reader.events > MAX_EVENTS:
            raise ScoreError(
                f"{name} has more than {MAX_EVENTS:,} MIDI events; a song to sing needs far fewer"
            )
        tick += reader.number(end, "a delta time")
        first = reader.byte(end, "an event")
        if first == 0xFF:
            kind = reader.byte(end, "a meta event")
            body = reader.take(reader.number(end, "a meta event's length"), end, "a meta event")
            key = _meta(kind, body, tick, number, name, track, tempos, key)
            continue
        if first in (0xF0, 0xF7):
            reader.take(reader.number(end, "a sysex length"), end, "a sysex event")
            continue
        if first >= 0xF0:
            raise reader.fail(f"track {number}, tick {tick}: status byte {first:#x} has no place in a file")
        if first >= 0x80:
            status = first
            low = reader.byte(end, "a note")
        elif status:
            low = first  # running status: the previous status byte goes on
        else:
            raise reader.fail(
                f"track {number}, tick {tick}: data byte {first} without a status byte before it"
            )
        kind, channel = status & 0xF0, status & 0x0F
        if kind in (0xC0, 0xD0):
            continue  # program change, channel pressure: one data byte
        high = reader.byte(end, "a note")
        if low > 0x7F or high > 0x7F:
            raise reader.fail(f"track {number}, tick {tick}: data byte above 127")
        if kind == 0x90 and high > 0 and channel != DRUMS:
            reader.notes += 1
            if reader.notes > MAX_NOTES:
                raise ScoreError(f"{name} has more than {MAX_NOTES:,} notes; a song to sing needs far fewer")
            sounding[(channel, low)] = MidiNote(tick, tick, low, channel)
        elif kind in (0x80, 0x90) and (channel, low) in sounding:
            note = sounding.pop((channel, low))
            note.end = tick
            track.notes.append(note)
    return track, key


def _meta(
    kind: int,
    body: bytes,
    tick: int,
    number: int,
    name: str,
    track: MidiTrack,
    tempos: list[tuple[int, int]],
    key: int,
) -> int:
    """Reads one meta event into `track` / `tempos`; returns the key."""
    where = f"{name}, track {number}, tick {tick}"
    if kind == 0x51:
        if len(body) != 3:
            raise ScoreError(f"{where}: a tempo event holds 3 bytes, this one {len(body)}")
        tempo = int.from_bytes(body, "big")
        if tempo == 0:
            raise ScoreError(f"{where}: tempo 0 µs per beat; a tempo must be above 0")
        if len(tempos) == MAX_TEMPO_EVENTS:
            raise ScoreError(f"{name} has more than {MAX_TEMPO_EVENTS:,} tempo changes")
        tempos.append((tick, tempo))
    elif kind == 0x59:
        if len(body) != 2:
            raise ScoreError(f"{where}: a key signature holds 2 bytes, this one {len(body)}")
        sharps = body[0] - 256 if body[0] > 127 else body[0]
        if not -7 <= sharps <= 7:
            raise ScoreError(f"{where}: a key signature with {sharps} sharps; keys have -7 to 7")
        key = (sharps * 7) % 12  # the tonic of the major key (a minor key's relative major)
    elif kind in (0x01, 0x05):  # text, lyrics
        text = _text(body)
        if not text.startswith("@"):  # karaoke (.kar) header lines
            track.lyrics.setdefault(tick, []).append(text)
    return key


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("latin-1")
