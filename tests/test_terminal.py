"""`anima chat` fed by a pipe, in a subprocess, against a fake OpenAI-compatible server: whatever the
bytes and however many lines, every line is stored and answered, or the terminal says which was not."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.fakes.openai_server import FakeOpenAI

ANIMA = str(Path(sys.executable).parent / "anima")


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI(reply="Got it.")
    await fake.start()
    yield fake
    await fake.stop()


def _config(tmp_path: Path, server: FakeOpenAI, flood: str = "") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"characters_dir: {REPO / 'characters'}\n"
        "default_character: aiko\n"
        "llm:\n  default: fake\n  backends:\n"
        f"    fake: {{kind: openai, base_url: '{server.base_url}', api_key: sk-test, max_retries: 0}}\n"
        f"memory:\n  database_url: sqlite:///{tmp_path / 'anima.db'}\n  summarize_every: 0\n"
        "  llm_facts_every: 0\n" + flood
    )
    return path


async def _chat(config: Path, stdin: bytes) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        ANIMA, "--config", str(config), "chat", "--user", "lin",
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
    )  # fmt: skip
    async with asyncio.timeout(120):
        out, err = await process.communicate(stdin)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _stored(tmp_path: Path) -> list[str]:
    with sqlite3.connect(tmp_path / "anima.db") as db:
        return [row[0] for row in db.execute("SELECT content FROM messages WHERE role = 'user' ORDER BY id")]


async def test_an_invalid_utf8_byte_is_read_as_a_replacement_character(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    code, out, err = await _chat(_config(tmp_path, server), b"caf\xe9 au lait\nand then?\n")
    assert code == 0, err
    assert "Traceback" not in err
    assert out.count("Aiko: Got it.") == 2  # both lines answered
    assert _stored(tmp_path) == ["caf\ufffd au lait", "and then?"]


async def test_piped_lines_past_flood_control_wait_their_turn_and_all_are_answered(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    flood = "safety:\n  flood_messages: 3\n  flood_window_s: 1\n"  # 3 a second: 7 lines need 2 waits
    lines = "".join(f"line {n}\n" for n in range(1, 8)).encode()
    code, out, err = await _chat(_config(tmp_path, server, flood), lines)
    assert code == 0, err
    assert out.count("Aiko: Got it.") == 7
    assert _stored(tmp_path) == [f"line {n}" for n in range(1, 8)]
    assert "[flood control: the next line waits" in err
    assert "One at a time" not in out and "not answered" not in err


async def test_chat_into_a_closed_pipe_ends_quietly(tmp_path: Path, server: FakeOpenAI) -> None:
    """`anima chat < lines | head -1`: the reader is gone; the chat stops without a traceback."""
    read, write = os.pipe()
    os.close(read)
    try:
        process = await asyncio.create_subprocess_exec(
            ANIMA, "--config", str(_config(tmp_path, server)), "chat", "--user", "lin",
            stdin=subprocess.PIPE, stdout=write, stderr=subprocess.PIPE, cwd=REPO,
        )  # fmt: skip
    finally:
        os.close(write)
    async with asyncio.timeout(120):
        _, err = await process.communicate(b"one\ntwo\nthree\n")
    assert process.returncode == 141, err
    assert b"Traceback" not in err and b"Exception ignored" not in err
