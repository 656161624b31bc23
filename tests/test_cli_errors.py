"""Every CLI error is one line without a traceback: the real `anima` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

ANIMA = str(Path(sys.executable).parent / "anima")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"characters_dir: {REPO / 'characters'}\n"
        "default_character: aiko\n"
        f"memory:\n  database_url: sqlite+aiosqlite:///{tmp_path / 'anima.db'}\n"
    )
    return path


def anima(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ANIMA, "--config", str(config), *args], capture_output=True, text=True, timeout=120, cwd=REPO
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize(
    "command",
    [
        ["say", "aiko", "hello", "-o", "{missing}/hello.ogg"],
        ["memory", "export", "lin", "-o", "{missing}/lin.json"],
        ["soul", "export", "aiko", "--out", "{missing}/aiko.yaml"],
    ],
)
def test_writing_into_a_missing_folder_names_it(config: Path, tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "no-such-folder"
    if command[0] == "memory":  # a user to export
        subprocess.run([ANIMA, "--config", str(config), "chat", "--user", "lin"], input="/memory\n",
                       capture_output=True, text=True, timeout=120, cwd=REPO)  # fmt: skip
    line = one_line_error(anima(config, *[part.format(missing=missing) for part in command]))
    assert str(missing) in line
    assert not missing.exists()


def test_a_missing_score_file_is_named(config: Path, tmp_path: Path) -> None:
    line = one_line_error(anima(config, "sing", "aiko", str(tmp_path / "song.mid")))
    assert f"{tmp_path / 'song.mid'}: no such file" in line


def test_an_unsupported_database_url_says_which_are(config: Path) -> None:
    line = one_line_error(anima(config, "memory", "copy", "--to", "mysql://anima:pw@localhost/anima"))
    assert "mysql is not supported" in line and "postgresql+asyncpg://" in line
    assert "pw@" not in line


def test_output_into_a_closed_pipe_ends_quietly(config: Path) -> None:
    """`anima soul export aiko | head -1`: the reader is gone before the card is written."""
    read, write = os.pipe()
    os.close(read)
    try:
        result = subprocess.run(
            [ANIMA, "--config", str(config), "soul", "export", "aiko"],
            stdout=write, stderr=subprocess.PIPE, text=True, timeout=120, cwd=REPO,
        )  # fmt: skip
    finally:
        os.close(write)
    assert result.returncode == 141
    assert result.stderr == ""


@pytest.mark.parametrize(
    "url", ["postgresql+asyncpg://anima:pw-4711@[::1/anima", "postgresql+asyncpg://anima:pw-4711@host:port/x"]
)
def test_a_malformed_database_url_is_one_line_without_its_password(tmp_path: Path, url: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"characters_dir: {REPO / 'characters'}\nmemory:\n  database_url: '{url}'\n")
    line = one_line_error(anima(config, "chat"))
    assert "not a database URL" in line and "pw-4711" not in line
