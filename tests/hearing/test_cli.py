"""`anima melody` and `anima sing CHARACTER FILE.ogg --lyrics`, end to end in a subprocess."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import soundfile

from anima.hearing.audio import decode
from anima.hearing.melody import extract
from tests.conftest import REPO
from tests.hearing.sounds import EIGHT, hum, ogg


def anima(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    config = cwd / "config.yaml"
    config.write_text(f"characters_dir: {REPO / 'characters'}\n")
    return subprocess.run(
        [sys.executable, "-m", "anima", "--config", str(config), *args],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=300,
    )  # fmt: skip


def test_anima_melody_prints_the_notation_heard(tmp_path: Path) -> None:
    (tmp_path / "hum.ogg").write_bytes(ogg(hum(EIGHT, wave="saw", vibrato_cents=30)))
    done = anima("melody", "hum.ogg", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first.startswith("/sing tempo=100 key=") and first.endswith("| C4 D4/2 E4/2 G4 A4 G4/2 E4/2 D4*2")
    assert second.startswith("(8 notes over 4.2 s, on a beat grid, 100 beats a minute")


def test_anima_sing_sings_the_lyrics_on_the_hummed_tune_and_says_how_they_fit(tmp_path: Path) -> None:
    (tmp_path / "hum.ogg").write_bytes(ogg(hum(EIGHT)))
    done = anima("sing", "aiko", "hum.ogg", "--lyrics", "row your boat", "-o", "song.ogg", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].endswith("| row _ _ your _ boat _ _")
    assert lines[1] == "(3 syllables on 8 notes: 5 notes hold the syllable before (melisma))"
    song = (tmp_path / "song.ogg").read_bytes()
    assert soundfile.info(io.BytesIO(song)).subtype == "OPUS"
    sung = extract(decode(song, 60, 10**7))  # the song, heard again, is the tune that was hummed
    assert [n.pitch for n in sung.score.sung_notes] == [n.pitch for n in EIGHT]


def test_anima_sing_without_lyrics_for_a_recording_says_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "hum.ogg").write_bytes(ogg(hum(EIGHT)))
    done = anima("sing", "aiko", "hum.ogg", cwd=tmp_path)
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == "error: hum.ogg is a recording: give the words to sing on its tune with --lyrics"
    )
