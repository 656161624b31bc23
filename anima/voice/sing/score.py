"""What is sung: notes in seconds, each sung note either starting a syllable or holding the last one."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from anima.errors import ScoreError

# What one song may ask of the renderer, checked before any work. Rendering costs about 0.065 s of CPU
# per second of song (WORLD synthesis and Opus) and 0.035 s per distinct syllable (spoken, then
# analysed): the largest song these allow costs under 2 s of CPU (bench/hostile_scores_bench.py).
MAX_SONG_S = 20.0  # a voice note, not an album: longer scores are refused, not cut
MAX_NOTES = 400  # the melody's notes and rests
MAX_SUNG_NOTES = 100
MAX_SYLLABLES = 24  # distinct syllables
MAX_SYLLABLE_CHARS = 24
MIN_NOTE_S = 0.04  # a sung note shorter than this is a glitch in the file, not something to sing
MAX_BACKING_NOTES = 2_000
MAX_BACKING_S = 300.0  # the backing notes' lengths added up: each is rendered sample by sample
LOWEST, HIGHEST = 36, 84  # C2–C6: what a re-pitched speaking voice still carries
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(pitch: int) -> str:
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def frequency(pitch: float) -> float:
    """MIDI note number to Hz (A4 = 69 = 440 Hz)."""
    return 440.0 * 2 ** ((pitch - 69) / 12)


@dataclass(frozen=True)
class Syllable:
    text: str  # as written: "星", "twin"
    language: str  # "zh" or "en"
    sound: str  # what a voice engine is asked to say: "xing1", "twin"
    joined: bool = False  # continues the word before it ("kle" of twin-kle)


@dataclass(frozen=True)
class Note:
    pitch: int | None  # MIDI note number; None is a rest
    start_s: float
    duration_s: float
    # Set on a sung note that starts a syllable; a sung note without one holds the previous (melisma).
    syllable: Syllable | None = None

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True)
class Sung:
    """One syllable and the notes it is sung over (more than one: melisma)."""

    syllable: Syllable
    notes: tuple[Note, ...]

    @property
    def start_s(self) -> float:
        return self.notes[0].start_s

    @property
    def end_s(self) -> float:
        return self.notes[-1].end_s


@dataclass(frozen=True)
class Score:
    notes: tuple[Note, ...]  # the melody, in time order, rests included
    tempo: float = 120.0  # beats per minute, as written (for the backing track's bars)
    key: int = 0  # pitch class of the tonic, for the backing track's chords
    accompaniment: tuple[Note, ...] = ()  # other parts of a MIDI file, for the backing track

    @property
    def duration_s(self) -> float:
        return max((n.end_s for n in self.notes), default=0.0)

    @property
    def sung_notes(self) -> list[Note]:
        return [n for n in self.notes if n.pitch is not None]

    @property
    def has_lyrics(self) -> bool:
        return any(n.syllable is not None for n in self.notes)

    def sung(self) -> list[Sung]:
        """The syllables in order with their notes; a rest ends a melisma."""
        groups: list[Sung] = []
        held = False
        for note in self.notes:
            if note.pitch is None:
                held = False
            elif note.syllable is not None:
                groups.append(Sung(note.syllable, (note,)))
                held = True
            elif held:
                groups[-1] = Sung(groups[-1].syllable, (*groups[-1].notes, note))
        return groups

    def lyrics(self) -> str:
        """The words sung, as text: syllables joined into words, Chinese characters side by side."""
        text = ""
        for group in self.sung():
            syllable = group.syllable
            cjk = syllable.language == "zh" and (not text or text[-1] > "\u2e7f")
            text += syllable.text if syllable.joined or cjk or not text else " " + syllable.text
        return text

    def phrases(self) -> list[list[Note]]:
        """Sung notes split at rests: the lines a lyricist writes."""
        phrases: list[list[Note]] = [[]]
        for note in self.notes:
            if note.pitch is None:
                if phrases[-1]:
                    phrases.append([])
            else:
                phrases[-1].append(note)
        return [p for p in phrases if p]

    def transposed(self, semitones: int) -> Score:
        def move(n: Note) -> Note:
            return n if n.pitch is None else replace(n, pitch=n.pitch + semitones)

        return replace(
            self,
            notes=tuple(move(n) for n in self.notes),
            key=(self.key + semitones) % 12,
            accompaniment=tuple(move(n) for n in self.accompaniment),
        )

    def with_syllables(self, syllables: list[Syllable | None]) -> Score:
        """Give the sung notes their syllables in order; None holds the previous one (melisma)."""
        sung = self.sung_notes
        if len(syllables) != len(sung):
            raise ScoreError(f"{len(syllables)} syllables for {len(sung)} sung notes")
        given = iter(syllables)
        notes = tuple(n if n.pitch is None else replace(n, syllable=next(given)) for n in self.notes)
        return replace(self, notes=notes)

    def check(self, backing: bool = False, lyrics: bool = True) -> None:
        """Raise ScoreError for what cannot be sung: no notes, no lyrics, too long, too many notes or
        syllables, notes too short or out of range; with `backing`, a backing track too big to render.
        Counts come first, so an oversized score is refused before anything walks its notes. With
        `lyrics=False` (a melody that lyrics will be written for) only the melody is checked."""
        if len(self.notes) > MAX_NOTES:
            raise ScoreError(
                f"the melody has {len(self.notes):,} notes and rests; at most {MAX_NOTES} can be sung"
            )
        for i, note in enumerate(self.notes, 1):
            if not (math.isfinite(note.start_s) and math.isfinite(note.duration_s)) or note.duration_s < 0:
                raise ScoreError(
                    f"note {i} has no valid time (starts at {note.start_s}, lasts {note.duration_s})"
                )
        sung = self.sung_notes
        if not sung:
            raise ScoreError("the score has no notes to sing, only rests")
        if len(sung) > MAX_SUNG_NOTES:
            raise ScoreError(f"the melody has {len(sung):,} sung notes; at most {MAX_SUNG_NOTES} can be sung")
        if lyrics and not self.has_lyrics:
            raise ScoreError(
                "the score has no lyrics. Add them (a line of syllables under the notes, or lyric events in "
                "the file), or ask for new ones: /sing about the sea | C4 D4 E4 …"
            )
        if self.duration_s > MAX_SONG_S:
            raise ScoreError(
                f"the song lasts {self.duration_s:.0f} s; at most {MAX_SONG_S:.0f} s can be sung. "
                "Sing a part of it, or raise the tempo."
            )
        for i, note in enumerate(sung, 1):
            assert note.pitch is not None
            if not LOWEST <= note.pitch <= HIGHEST:
                raise ScoreError(
                    f"note {i} ({note_name(note.pitch)}) is out of range: sing between {note_name(LOWEST)} "
                    f"and {note_name(HIGHEST)}, or transpose (transpose=-12)"
                )
            if note.duration_s < MIN_NOTE_S:
                raise ScoreError(
                    f"note {i} ({note_name(note.pitch)} at {note.start_s:.2f} s) lasts "
                    f"{note.duration_s:.3f} s; a sung note lasts at least {MIN_NOTE_S} s"
                )
            syllable = note.syllable
            if syllable is not None and len(syllable.text) > MAX_SYLLABLE_CHARS:
                raise ScoreError(
                    f"note {i} ({note_name(note.pitch)} at {note.start_s:.2f} s) has the syllable "
                    f"{syllable.text[:MAX_SYLLABLE_CHARS]!r}…, longer than {MAX_SYLLABLE_CHARS} characters: "
                    "give each note one syllable"
                )
        distinct = {(n.syllable.sound, n.syllable.language) for n in sung if n.syllable is not None}
        if len(distinct) > MAX_SYLLABLES:
            raise ScoreError(
                f"the lyrics have {len(distinct)} different syllables; at most {MAX_SYLLABLES} can be sung "
                "in one song. Sing a part of it."
            )
        if backing:
            self._check_backing()

    def _check_backing(self) -> None:
        if len(self.accompaniment) > MAX_BACKING_NOTES:
            raise ScoreError(
                f"the backing parts have {len(self.accompaniment):,} notes; at most "
                f"{MAX_BACKING_NOTES:,} can be played: sing it without backing=on"
            )
        end = self.duration_s
        total = sum(
            max(0.0, min(n.end_s, end) - n.start_s)
            for n in self.accompaniment
            if math.isfinite(n.start_s) and math.isfinite(n.duration_s)
        )
        if total > MAX_BACKING_S:
            raise ScoreError(
                f"the backing parts sound {total:.0f} s of notes in all; at most {MAX_BACKING_S:.0f} s "
                "can be played: sing it without backing=on"
            )
