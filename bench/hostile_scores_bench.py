"""Hostile score files and texts: the CPU and peak RSS each costs, now and on the code before the limits.

Run: .venv/bin/python -m bench hostile_scores_bench
Each case runs in its own child process (tests/voice/hostile.py: CPU of the work itself, peak RSS over
the child's baseline, a 3 GB address-space limit). "before" runs the same case on the code of
08a7387 (`git archive`), stopped after BEFORE_TIMEOUT_S. The last rows sing the largest song the caps
allow, which is the most one accepted request can cost.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from pathlib import Path

from anima.voice.sing.score import MAX_SONG_S, MAX_SUNG_NOTES, MAX_SYLLABLES
from bench import report
from tests.voice import hostile
from tests.voice.hostile import Cost, measure

REPO = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m bench hostile_scores_bench"
BEFORE = "08a7387"  # main when the hostile inputs were tried (issue 17)
BEFORE_TIMEOUT_S = 20.0


def largest_song(distinct: int = MAX_SYLLABLES) -> bytes:
    """MAX_SUNG_NOTES quarter notes filling MAX_SONG_S, on `distinct` different syllables."""
    tempo = MAX_SUNG_NOTES * 60 / MAX_SONG_S
    words = [f"{c}{v}" for c in "bdfgklmnprstvz" for v in "aeiou"][:distinct]
    lyrics = " ".join(words[i % len(words)] for i in range(MAX_SUNG_NOTES))
    notes = " ".join(("C4", "D4", "E4", "G4")[i % 4] for i in range(MAX_SUNG_NOTES))
    return f"/sing tempo={tempo:g} | {notes} | {lyrics}".encode()


_NAMES = {".mxl": "hostile.mxl", "MusicXML": "hostile.musicxml", "MIDI": "hostile.mid"}


def cases() -> list[tuple[str, str, str, bytes, bool]]:
    """(class, input, kind, data, run before): hostile inputs, and the largest ones under the caps."""
    return [
        (".mxl", "zip bomb, ~1 GB inflated from 1 MB", "score", hostile.mxl_bomb(1000), True),
        (".mxl", "zip bomb, headers claim 1 KB", "score", hostile.mxl_bomb(1000, lie_about_size=True), True),
        (".mxl", "12 members of 1 MB", "score", hostile.mxl_many_members(), True),
        ("MusicXML", "entity bomb (10^10 lol)", "score", hostile.xml_entity_bomb(), True),
        ("MusicXML", "250k empty elements (1 MB)", "score", hostile.xml_flood(), True),
        ("MusicXML", "100k nested elements", "score", hostile.xml_deep(), True),
        ("MusicXML", "10,000 notes", "score", hostile.xml_many_notes(10_000), True),
        ("MusicXML", "5,000 notes (the cap)", "score", hostile.xml_many_notes(5_000), True),
        ("MIDI", "100k tempo changes, 2,000 notes", "score", hostile.midi_tempo_map(100_000, 2_000), True),
        ("MIDI", "1,000 tempo changes (cap), 400 notes", "score", hostile.midi_tempo_map(1_000, 400), True),
        ("MIDI", "10,000 notes", "score", hostile.midi_song(10_000), True),
        ("MIDI", "5,000 notes (the cap)", "score", hostile.midi_song(5_000), True),
        ("notation", "6,000 characters (the cap)", "notation", _notation(6_000), True),
        ("say", "1 MB without spaces", "say", hostile.no_space_text(), True),
        ("sing", f"largest song: {MAX_SONG_S:.0f} s, {MAX_SUNG_NOTES} notes, {MAX_SYLLABLES} syllables",
         "sing", largest_song(), False),
        ("sing", f"{MAX_SONG_S:.0f} s, {MAX_SUNG_NOTES} notes, 8 syllables", "sing", largest_song(8), False),
    ]  # fmt: skip


def _notation(chars: int) -> bytes:
    notes = chars // 6
    return ("/sing | " + "C4 " * notes + "| " + "la " * notes)[:chars].encode()


def _old_checkout(into: Path) -> Path:
    archive = subprocess.run(["git", "archive", BEFORE, "anima", "characters"], cwd=REPO, capture_output=True)
    if archive.returncode != 0:
        raise RuntimeError(f"git archive {BEFORE} failed: {archive.stderr.decode()[:200]}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into


def _shown(cost: Cost | None) -> str:
    if cost is None:
        return ""
    if cost.outcome == "timeout":
        return f"> {cost.cpu_s:.0f} s (stopped)"
    what = "refused" if cost.outcome == "ScoreError" else cost.outcome
    return f"{cost.cpu_s:7.3f} s {cost.rss_mb:7.1f} MB  {what}"


def main() -> None:
    rows: list[tuple[str, str, Cost, Cost | None]] = []
    with tempfile.TemporaryDirectory() as tmp:
        old = _old_checkout(Path(tmp))
        for kind_of_file, what, kind, data, before in cases():
            name = _NAMES.get(kind_of_file, "")
            now = measure(kind, data, name)
            then = measure(kind, data, name, BEFORE_TIMEOUT_S, old) if before else None
            rows.append((kind_of_file, f"{what} ({len(data) / 1024:,.0f} KB)", now, then))
    print(f"{'class':<9} {'input':<58} {'now: CPU, peak RSS, outcome':<34} before ({BEFORE})")
    for kind_of_file, what, now, then in rows:
        print(f"{kind_of_file:<9} {what:<58} {_shown(now):<34} {_shown(then)}")
    parsed = [now for kind, _, now, _ in rows if kind != "sing"]
    sung = [now for kind, _, now, _ in rows if kind == "sing"]
    worst_cpu, worst_rss = max(c.cpu_s for c in parsed), max(c.rss_mb for c in parsed)
    song_cpu, song_rss = max(c.cpu_s for c in sung), max(c.rss_mb for c in sung)
    print(f"\nworst file or text now: {worst_cpu:.3f} s CPU, {worst_rss:.0f} MB over baseline")
    print(f"largest song under the caps: {song_cpu:.2f} s CPU, {song_rss:.0f} MB over baseline")
    print(f"command: {COMMAND}")
    report.record("hostile files: worst CPU", worst_cpu, "s", COMMAND)
    report.record("hostile files: worst peak RSS over baseline", worst_rss, "MB", COMMAND)
    report.record("largest song under the caps: CPU", song_cpu, "s", COMMAND)
    report.record("largest song under the caps: peak RSS over baseline", song_rss, "MB", COMMAND)
