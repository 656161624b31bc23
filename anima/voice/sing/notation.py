"""The text notation typed in a chat: `/sing tempo=96 | C4 D4 E4/2 G4/2 | 小 星 星 亮`.

Parts are separated by `|` on one line, or written one per line (then `|` inside a line of notes
is a bar line). The first part holds settings (`tempo=96 key=D transpose=-2`) and, instead of
lyrics, words to write lyrics about; then come notes and lyrics, in turns: notes, lyrics, notes,
lyrics… A note is `C4` (letter, `#`/`b`, octave), `5` (a numbered note of the key: `5'` an octave
up, `5,` down, `4#` sharp), or `R` / `0` (a rest); then `/2` or `*2` for half or twice a beat, a
`.` for dotted, `~` to tie it to the next note. `-` holds the note before it one more beat. In the
lyrics a Chinese character is a syllable, an English word is split into its syllables (`twin-kle`
says where), and `_` holds the syllable before it over one more note.

Errors name the token and its column, so a person can fix a long line in a chat.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from anima.voice.sing.score import Note, Score, ScoreError, Syllable
from anima.voice.sing.syllables import HOLD, pieces, syllables

DEFAULT_TEMPO = 100.0
MAX_CHARS = 6000  # Discord's longest option; Telegram's messages are shorter
_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_DEGREES = (0, 2, 4, 5, 7, 9, 11)  # 1–7 in a major key
_KEY = re.compile(r"^([A-Ga-g])([#b]?)(m?)$")
_NOTE = re.compile(
    r"""^(?:
        (?P<letter>[A-Ga-g])(?P<accidental>[#b]?)(?P<octave>-?\d)? |
        (?P<degree>[1-7])(?P<jp_accidental>[#b]?)(?P<marks>[',]*) |
        (?P<rest>[Rr0])
    )
    (?:(?P<op>[*/])(?P<factor>\d+(?:\.\d+)?))?
    (?P<dots>\.{0,2})
    (?P<tie>~?)$""",
    re.X,
)
NOTE_HELP = (
    "a note is a letter A–G with an optional # or b and octave (C4, F#3, Bb4), a numbered note 1–7 "
    "(5' up an octave, 5, down), or R for a rest; then /2 or *2 for its length in beats, . for dotted, "
    "~ to tie it to the next"
)


@dataclass
class Token:
    text: str
    column: int  # 1-based, in the message as typed


@dataclass
class Request:
    """A parsed /sing message: the score, or a melody and a topic to write lyrics about."""

    score: Score
    topic: str = ""  # words to write lyrics about; the score then has no lyrics yet
    options: dict[str, str] = field(default_factory=dict)

    @property
    def needs_lyrics(self) -> bool:
        return not self.score.has_lyrics


def parse(message: str) -> Request:
    """Parse a /sing message (the `/sing` itself is optional). Raises ScoreError pointing at a token."""
    _check_length(message)
    text = re.sub(r"^\s*/sing(@\w+)?", lambda m: " " * len(m.group()), message)
    parts = _parts(text)
    header: list[Token] = []
    if parts and (not parts[0] or not _all_notes(parts[0])):
        header = parts.pop(0)
    parts = [p for p in parts if p]
    options, topic = _header(header, text)
    with_lyrics = len(parts) % 2 == 0 and bool(parts)
    if topic and with_lyrics:
        raise ScoreError(
            f"{' '.join(topic)!r} before the first | is neither a setting (name=value) nor needed: the song "
            "has its lyrics. If those are notes, start with a |: /sing | C4 D4 … | lyrics"
        )
    tempo = _number(options, "tempo", DEFAULT_TEMPO, 20, 400, text)
    transpose = int(_number(options, "transpose", 0, -24, 24, text))
    key = _key(options.get("key", "C"), text)
    backing(options)
    if not parts:
        raise ScoreError(
            "no notes: write them after a |, e.g. /sing tempo=96 | C4 D4 E4/2 G4/2 | 小 星 星 亮"
        )
    beat = 60.0 / tempo
    notes: list[Note] = []
    lyric: list[Syllable | None] = []
    for i in range(0, len(parts), 2):
        melody = _melody(parts[i], key, beat, notes[-1].end_s if notes else 0.0, text)
        if i + 1 < len(parts):
            lyric += _lyrics(parts[i + 1], melody, parts[i][0].column, text)
        elif len(parts) > 1:
            raise ScoreError(
                f"the notes at column {parts[i][0].column} have no lyrics under them: every line of notes "
                "needs its line of lyrics"
            )
        notes += melody
    score = Score(tuple(notes), tempo=tempo, key=key % 12)
    if with_lyrics:
        score = score.with_syllables(lyric)
    if transpose:
        score = score.transposed(transpose)
    return Request(score, " ".join(topic).removeprefix("about ").strip(), options)


def parse_settings(text: str) -> tuple[dict[str, str], str]:
    """The settings and topic of a caption that comes with a score file: `/sing transpose=-5 about rain`."""
    _check_length(text)
    text = re.sub(r"^\s*/sing(@\w+)?", lambda m: " " * len(m.group()), text)
    tokens = [Token(m.group(), m.start() + 1) for m in re.finditer(r"[^\s|]+", text)]
    options, topic = _header(tokens, text)
    _number(options, "transpose", 0, -24, 24, text)
    backing(options)
    return options, " ".join(topic).removeprefix("about ").strip()


def _check_length(text: str) -> None:
    if len(text) > MAX_CHARS:
        raise ScoreError(f"the notation is {len(text):,} characters; at most {MAX_CHARS:,} are read")


def backing(options: dict[str, str]) -> bool:
    """backing=on adds a backing track (chords that fit the melody)."""
    value = options.get("backing", "off").lower()
    if value not in ("on", "off", "yes", "no"):
        raise ScoreError(f"backing={value}: backing is on or off")
    return value in ("on", "yes")


def _parts(text: str) -> list[list[Token]]:
    """Tokens of each part: lines when there are several, else the pieces between `|`."""
    lines = [(m.start(), m.group()) for m in re.finditer(r"[^\n]+", text) if m.group().strip()]
    if len(lines) > 1:
        parts = [(start, line.replace("|", " ")) for start, line in lines]
    else:
        bars = [-1, *(m.start() for m in re.finditer(r"\|", text)), len(text)]
        parts = [(a + 1, text[a + 1 : b]) for a, b in itertools.pairwise(bars)]
    tokens = [[Token(m.group(), start + m.start() + 1) for m in re.finditer(r"\S+", p)] for start, p in parts]
    return tokens[:1] + [t for t in tokens[1:] if t]  # an empty first part is an empty header


def _all_notes(tokens: list[Token]) -> bool:
    """Notes, not settings: most tokens parse as notes (the others are then reported as bad notes)."""
    notes = sum(1 for t in tokens if _NOTE.match(t.text) or t.text == "-")
    return notes > len(tokens) / 2 and not any("=" in t.text for t in tokens)


def _header(tokens: list[Token], text: str) -> tuple[dict[str, str], list[str]]:
    options: dict[str, str] = {}
    topic: list[str] = []
    for token in tokens:
        name, eq, value = token.text.partition("=")
        if eq and name.lower() in ("tempo", "key", "transpose", "backing"):
            options[name.lower()] = value
        elif eq:
            raise _error(
                text, token, f"unknown setting {name!r}; settings are tempo=, key=, transpose= and backing="
            )
        else:
            topic.append(token.text)
    return options, topic


def _number(options: dict[str, str], name: str, default: float, low: float, high: float, text: str) -> float:
    raw = options.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ScoreError(f"{name}={raw}: {name} is a number, e.g. {name}={int(default) or 2}") from None
    if not low <= value <= high:
        raise ScoreError(f"{name}={raw}: {name} is between {low:g} and {high:g}")
    return value


def _key(raw: str, text: str) -> int:
    """The tonic as a MIDI note in octave 4 (key=D → D4): numbered notes count from it."""
    match = _KEY.match(raw)
    if not match:
        raise ScoreError(f"key={raw}: a key is a note name such as C, G, F# or Bb")
    letter, accidental, _ = match.groups()
    return 60 + _LETTERS[letter.upper()] + {"#": 1, "b": -1, "": 0}[accidental]


def _melody(tokens: list[Token], key: int, beat: float, start_s: float, text: str) -> list[Note]:
    """The notes of one part, ties merged, `-` holds added, in seconds from `start_s`."""
    notes: list[Note] = []
    tied = False
    octave = 4
    for token in tokens:
        if token.text == "-":
            if not notes:
                raise _error(
                    text, token, "- holds the note before it one more beat, but nothing comes before"
                )
            last = notes[-1]
            notes[-1] = Note(last.pitch, last.start_s, last.duration_s + beat)
            continue
        match = _NOTE.match(token.text)
        if match is None:
            raise _error(text, token, f"not a note: {NOTE_HELP}")
        pitch, octave = _pitch(match, key, octave)
        length = _beats(match) * beat
        if tied:
            last = notes[-1]
            if pitch != last.pitch:
                raise _error(text, token, "a tie (~) joins two notes of the same pitch; use _ in the lyrics "
                             "to hold a syllable over different notes")  # fmt: skip
            notes[-1] = Note(last.pitch, last.start_s, last.duration_s + length)
        else:
            start = notes[-1].end_s if notes else start_s
            notes.append(Note(pitch, start, length))
        tied = bool(match["tie"])
        if tied and pitch is None:
            raise _error(text, token, "a rest cannot be tied; write a longer rest (R*2)")
    if tied:
        raise _error(text, tokens[-1], "the last note is tied (~) to nothing")
    return notes


def _pitch(match: re.Match[str], key: int, octave: int) -> tuple[int | None, int]:
    if match["rest"]:
        return None, octave
    if match["letter"]:
        octave = int(match["octave"]) if match["octave"] else octave
        pitch = 12 * (octave + 1) + _LETTERS[match["letter"].upper()]
        return pitch + {"#": 1, "b": -1, "": 0}[match["accidental"]], octave
    pitch = key + _DEGREES[int(match["degree"]) - 1] + {"#": 1, "b": -1, "": 0}[match["jp_accidental"]]
    return pitch + 12 * (match["marks"].count("'") - match["marks"].count(",")), octave


def _beats(match: re.Match[str]) -> float:
    factor = float(match["factor"]) if match["factor"] else 1.0
    if factor <= 0:
        raise ScoreError(f"{match.group()}: a length factor must be above 0")
    beats = factor if match["op"] != "/" else 1 / factor
    return beats * {"": 1.0, ".": 1.5, "..": 1.75}[match["dots"]]


def _lyrics(tokens: list[Token], melody: list[Note], notes_column: int, text: str) -> list[Syllable | None]:
    """The syllables for one part's sung notes; their count must match."""
    line = " ".join(t.text for t in tokens)
    found = syllables(line)
    sung = sum(1 for n in melody if n.pitch is not None)
    if tokens and (found[:1] == [None]):
        raise _error(text, tokens[0], f"{HOLD} holds the syllable before it, but the lyrics start with it")
    if len(found) != sung:
        shown = " ".join(HOLD if s is None else s.text for s in found)
        raise ScoreError(
            f"the notes from column {notes_column} have {sung} sung notes but the lyrics at column "
            f"{tokens[0].column} have {len(found)} syllables ({shown}). Give each note a syllable, write "
            f"{HOLD} to hold a syllable over another note, or split words with hyphens (twin-kle)."
        )
    if not pieces(line):
        raise _error(text, tokens[0], "these lyrics have no words")
    return found


def _error(text: str, token: Token, why: str) -> ScoreError:
    """`why`, with the token shown in its place: `C4 D4 »H4« E4`."""
    start = token.column - 1
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", start)
    line = text[line_start : len(text) if line_end < 0 else line_end]
    at = start - line_start
    shown = f"{line[:at]}»{token.text}«{line[at + len(token.text) :]}".strip()
    return ScoreError(f"column {token.column}, {token.text!r}: {why}\n{shown}")
