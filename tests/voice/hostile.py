"""Hostile score files and texts, built here byte by byte, and a child process that measures one.

`measure(kind, data, name)` runs `read_score(...).check(backing=True)` ("score"), the chat notation
("notation"), the speech text preparation ("say") or a whole song sung by Aiko's voice ("sing", the
notation in `data`) in a fresh interpreter, and reports its
CPU time and peak RSS over the child's own baseline (after imports), with what it raised. The child
runs under an address-space limit, so a bomb that would take the host ends as a MemoryError there.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO

MEMORY_LIMIT = 3 * 1024**3  # the child's address space: a bomb ends as MemoryError, not a host swapping

_CHILD = r"""
import json, resource, sys
kind, name = sys.argv[1], sys.argv[2]
data = sys.stdin.buffer.read()
from anima.voice.sing.files import read_score
from anima.voice.sing.notation import parse
from anima.voice.sing.syllables import syllables
from anima.voice.text import script
syllables("星 star")  # pypinyin's dictionary loaded, as in a bot that has sung before

def usage():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime, r.ru_maxrss

def check(score):
    try:
        score.check(backing=True)
    except TypeError:  # the code before the limits: check() took no arguments
        score.check()

if kind == "sing":  # the renderer, warmed up: its voice engine loaded and one syllable spoken
    import asyncio, tempfile
    from pathlib import Path
    from anima.characters.library import CharacterLibrary
    from anima.config import VoiceSettings
    from anima.voice import VoiceService
    from anima.voice.sing.singer import Singer
    card = CharacterLibrary.load(Path("characters")).get("aiko")
    voice = VoiceService(VoiceSettings(cache_dir=Path(tempfile.mkdtemp()), cache_max_mb=0))
    choice = voice.choice_for(card)
    voice.engine(choice.engine).speak("la", "en", choice)

cpu, rss = usage()
try:
    if kind == "sing":
        asyncio.run(Singer(voice).sing(card, parse(data.decode()).score))
    elif kind == "score":
        check(read_score(data, name))
    elif kind == "notation":
        check(parse(data.decode()).score)
    else:
        script(data.decode(), "en", 1500)
    outcome, message = "ok", ""
except Exception as exc:
    outcome, message = type(exc).__name__, str(exc)
cpu_after, rss_after = usage()
print(json.dumps({"cpu_s": cpu_after - cpu, "rss_mb": (rss_after - rss) / 1024, "outcome": outcome,
                  "message": message}))
"""


@dataclass(frozen=True)
class Cost:
    cpu_s: float  # user + system CPU of the work itself, imports excluded
    rss_mb: float  # peak RSS over the child's baseline
    outcome: str  # "ok", or the exception's type name; "timeout" when it ran past timeout_s
    message: str


def measure(kind: str, data: bytes, name: str = "", timeout_s: float = 60, code: Path = REPO) -> Cost:
    """One case in a child process; `code` is the checkout whose `anima` it imports."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    env = {**os.environ, "PYTHONPATH": str(code)}
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, kind, name],
            input=data,
            capture_output=True,
            timeout=timeout_s,
            env=env,
            cwd=code,
            preexec_fn=limit_memory,
        )
    except subprocess.TimeoutExpired:
        return Cost(timeout_s, 0.0, "timeout", f"still running after {timeout_s:.0f} s")
    if done.returncode != 0:
        return Cost(0.0, 0.0, "crash", done.stderr.decode(errors="replace")[-500:])
    return Cost(**json.loads(done.stdout.decode().strip().splitlines()[-1]))


# ---------------------------------------------------------------- MusicXML


def xml_note(
    step: str = "C", octave: str = "4", duration: str = "1", lyric: str = "la", alter: str = ""
) -> str:
    shown_alter = f"<alter>{alter}</alter>" if alter else ""
    return (
        f"<note><pitch><step>{step}</step>{shown_alter}<octave>{octave}</octave></pitch>"
        f"<duration>{duration}</duration><voice>1</voice><lyric><text>{lyric}</text></lyric></note>"
    )


def musicxml(*bars: str, divisions: str = "1", tempo: str = "", fifths: str = "0") -> bytes:
    """A one-part score: each of `bars` is the inside of a <measure>, after the first one's attributes."""
    sound = f'<direction><sound tempo="{tempo}"/></direction>' if tempo else ""
    attributes = (
        f"<attributes><divisions>{divisions}</divisions><key><fifths>{fifths}</fifths></key></attributes>"
    )
    measures = "".join(
        f'<measure number="{i}">{attributes + sound if i == 1 else ""}{bar}</measure>'
        for i, bar in enumerate(bars, 1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<score-partwise version="4.0"><part-list>'
        '<score-part id="P1"><part-name>Voice</part-name></score-part></part-list>'
        f'<part id="P1">{measures}</part></score-partwise>'
    ).encode()


def xml_entity_bomb(levels: int = 10) -> bytes:
    """Billion laughs: each entity ten of the one before; 10 levels are 10^10 'lol's."""
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels)
    )
    return (
        f'<?xml version="1.0"?><!DOCTYPE score-partwise [{entities}]>'
        f"<score-partwise><part id='P1'><measure><note><lyric><text>&lol{levels - 1};</text></lyric>"
        "</note></measure></part></score-partwise>"
    ).encode()


def xml_external_entity() -> bytes:
    return (
        b'<?xml version="1.0"?><!DOCTYPE score-partwise [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
        b"<score-partwise><part id='P1'><measure><note><lyric><text>&secret;</text></lyric></note>"
        b"</measure></part></score-partwise>"
    )


def xml_flood(elements: int = 250_000) -> bytes:
    """About a megabyte of empty elements: cheap to send, a large tree to build."""
    return b"<score-partwise>" + b"<a/>" * elements + b"</score-partwise>"


def xml_deep(depth: int = 100_000) -> bytes:
    return b"<score-partwise>" + b"<a>" * depth + b"</a>" * depth + b"</score-partwise>"


def xml_many_notes(count: int = 10_000) -> bytes:
    """`count` short notes in bars of four: a file under a megabyte."""
    pitch = "<pitch><step>{}</step><octave>4</octave></pitch>"
    notes = [f"<note>{pitch.format('CDEFGAB'[i % 7])}<duration>1</duration></note>" for i in range(count)]
    return musicxml(*("".join(notes[i : i + 4]) for i in range(0, count, 4)))


# ---------------------------------------------------------------- .mxl (zip)

CONTAINER = (
    b'<?xml version="1.0"?><container><rootfiles><rootfile full-path="score.musicxml"/>'
    b"</rootfiles></container>"
)


def mxl(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("META-INF/container.xml", CONTAINER)
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def mxl_bomb(inflated_mb: int = 200, lie_about_size: bool = False) -> bytes:
    """One member of `inflated_mb` MB of spaces inside a MusicXML document, deflated to ~1/1000; with
    `lie_about_size`, its headers (local and central) claim 1,000 bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("META-INF/container.xml", CONTAINER)
        with archive.open("score.musicxml", "w") as member:
            member.write(b"<score-partwise>")
            chunk = b" " * (1024 * 1024)
            for _ in range(inflated_mb):
                member.write(chunk)
            member.write(b"</score-partwise>")
    data = bytearray(buffer.getvalue())
    if lie_about_size:
        name = b"score.musicxml"
        local = _header(data, b"PK\x03\x04", 26, name)
        central = _header(data, b"PK\x01\x02", 28, name)
        data[local + 22 : local + 26] = (1000).to_bytes(4, "little")
        data[central + 24 : central + 28] = (1000).to_bytes(4, "little")
    return bytes(data)


def _header(data: bytearray, signature: bytes, name_length_at: int, name: bytes) -> int:
    """Offset of the local (or central) header whose file name is `name`."""
    at = data.find(signature)
    while at >= 0:
        length = int.from_bytes(data[at + name_length_at : at + name_length_at + 2], "little")
        start = at + (30 if signature == b"PK\x03\x04" else 46)
        if data[start : start + length] == name:
            return at
        at = data.find(signature, at + 4)
    raise ValueError(f"no header for {name!r}")


def mxl_many_members(members: int = 12, each_mb: int = 1) -> bytes:
    """Members that are each allowed but together inflate past the archive's limit."""
    return mxl({f"part{i}.xml": b" " * (each_mb * 1024 * 1024) for i in range(members)})


# ---------------------------------------------------------------- MIDI (written by hand: any value)


def _number(value: int) -> bytes:
    """A MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def meta(delta: int, kind: int, body: bytes) -> bytes:
    return _number(delta) + bytes([0xFF, kind]) + _number(len(body)) + body


def tempo(delta: int, microseconds: int) -> bytes:
    return meta(delta, 0x51, microseconds.to_bytes(3, "big"))


def lyric(delta: int, text: str) -> bytes:
    return meta(delta, 0x05, text.encode())


def note_on(delta: int, pitch: int, velocity: int = 80) -> bytes:
    return _number(delta) + bytes([0x90, pitch, velocity])


def note_off(delta: int, pitch: int) -> bytes:
    return _number(delta) + bytes([0x80, pitch, 0])


def smf(*tracks: bytes, ticks_per_beat: int = 480) -> bytes:
    header = b"MThd" + (6).to_bytes(4, "big") + (1).to_bytes(2, "big") + len(tracks).to_bytes(2, "big")
    header += ticks_per_beat.to_bytes(2, "big")
    end = b"\x00\xff\x2f\x00"
    return header + b"".join(b"MTrk" + len(t + end).to_bytes(4, "big") + t + end for t in tracks)


def midi_song(notes: int = 8, step: int = 480, syllable: str = "la", tempos: bytes = b"") -> bytes:
    """`notes` sung quarter notes with a lyric each, after `tempos` (tempo events at tick 0)."""
    track = tempos + b"".join(
        lyric(0, f"{syllable}{i % 20} ") + note_on(0, 60 + i % 12) + note_off(step, 60 + i % 12)
        for i in range(notes)
    )
    return smf(track)


def midi_tempo_map(changes: int = 100_000, notes: int = 100) -> bytes:
    """A long tempo map (a change every tick) under a melody that spans it: 100k changes are ~700 KB."""
    changes_part = b"".join(tempo(1, 400_000 + i % 200_000) for i in range(changes))
    step = max(48, changes // notes)
    melody = b"".join(lyric(0, "la ") + note_on(0, 60) + note_off(step, 60) for _ in range(notes))
    return smf(changes_part, melody)


# ---------------------------------------------------------------- text


def no_space_text(size: int = 1_000_000) -> bytes:
    """A megabyte without a space: the worst case for patterns that scan to the next space."""
    return (b"a@b" * (size // 3 + 1))[:size]
