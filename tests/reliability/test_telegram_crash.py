"""kill -9 in the middle of a load, then a restart: nothing a person sent is lost or answered twice.

`anima run` runs as a real subprocess against the fake Telegram server and a slow fake OpenAI
server in this process. Several people send messages, the process is killed with SIGKILL while
replies are streaming, more messages arrive while it is down, and a second `anima run` takes over.

Replies stream (a first piece, then edits), so at the kill some chats show a fragment of a reply,
which the restart must finish in place. The kill comes while Telegram holds every send and edit in
flight, once what Telegram took is recorded: a kill in the milliseconds between Telegram taking a
new message and the bot recording it would show that message twice after the restart (Telegram
has no idempotency key), a window kept to one database write; edits are idempotent.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.telegram_server import FakeBot, FakeTelegram, person, private_chat
from tests.reliability.echo_llm import EchoingOpenAI, expected_reply

REPO = Path(__file__).resolve().parents[2]
PEOPLE = [person(5000 + i, f"P{i}") for i in range(6)]
BEFORE_KILL = 3  # messages per person sent to the first run
WHILE_DOWN = 1  # messages per person sent while no process runs
WORDS = 10  # words per reply, streamed one per chunk (the echo's default)
# Bounds that only guard against a hang: a cold start imports PTB, SQLAlchemy and the cards, which
# takes tens of seconds on a loaded 2-core machine; the test goes on as soon as each step happens.
START_WITHIN_S = 120.0
STEP_WITHIN_S = 120.0


def write_config(tmp_path: Path, tg: FakeTelegram, fake: FakeBot, llm_url: str) -> Path:
    config = {
        "characters_dir": str(REPO / "characters"),
        "default_character": "aiko",
        "llm": {
            "default": "fake",
            "max_concurrency": 8,
            "backends": {"fake": {"kind": "openai", "base_url": llm_url, "api_key": "k", "model": "m"}},
        },
        "memory": {
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'anima.db'}",
            "summarize_every": 0,
            "llm_facts_every": 0,
            "recall_memories": 0,
        },
        "conversation": {"coalesce_ms": 0},  # one reply per message: what is counted here
        "bots": {
            "telegram": [
                {
                    "token": fake.token,
                    "base_url": tg.base_url,
                    "base_file_url": tg.base_file_url,
                    "messages_per_second": 0,
                    "edit_interval_s": 0.15,
                }
            ]
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


ANIMA = Path(sys.executable).with_name("anima")  # the installed command


class AnimaRun:
    """`anima --config PATH run` as a subprocess, its output in a log file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                ANIMA, "--config", str(self.config), "run",
                cwd=self.config.parent, stdout=out, stderr=out,
            )  # fmt: skip

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.process.wait(), 10)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                await self.kill()


@pytest.fixture
async def servers() -> AsyncIterator[tuple[FakeTelegram, FakeBot, EchoingOpenAI]]:
    llm = EchoingOpenAI(words=WORDS)
    await llm.start()
    async with FakeTelegram(long_poll_cap_s=1.0) as tg:
        yield tg, tg.add_bot("aiko_bot", "Aiko"), llm
    await llm.stop()


def stored_user_messages(database: Path) -> set[tuple[str, str]]:
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT c.chat_id, m.platform_message_id FROM messages m"
            " JOIN conversations c ON c.id = m.conversation_id WHERE m.role = 'user'"
        )
        return {(chat, message) for chat, message in rows}


def inbox_counts(database: Path) -> tuple[int, int]:
    """(answered, waiting) updates in the inbox."""
    with sqlite3.connect(database) as db:
        row = db.execute("SELECT COUNT(answered_at), COUNT(*) - COUNT(answered_at) FROM inbox").fetchone()
        return row[0], row[1]


def finished_replies(fake: FakeBot) -> int:
    return sum(m.text.endswith(" la" * (WORDS - 1)) for p in PEOPLE for m in fake.replies(p["id"]))


def recorded(database: Path, fake: FakeBot) -> bool:
    """Whether the bot recorded everything Telegram took: each finished reply's update is answered,
    each fragment of a streaming reply is remembered as shown."""
    shown = [m for p in PEOPLE for m in fake.replies(p["id"])]
    finished = finished_replies(fake)
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT chat_id, value FROM preferences WHERE key LIKE 'streaming:%'").fetchall()
    fragments = {(int(chat), message) for chat, value in rows for message in json.loads(value)["messages"]}
    unfinished = {(m.chat_id, m.message_id) for m in shown if not m.text.endswith(" la" * (WORDS - 1))}
    return inbox_counts(database)[0] == finished and unfinished <= fragments


async def until(condition: Callable[[], bool], within_s: float) -> None:
    """Wait for a condition another process brings about (checked every 20 ms, for a bounded time)."""
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def send_round(fake: FakeBot, sent: dict[int, list[dict[str, Any]]], turn: int) -> None:
    for p in PEOPLE:
        sent[p["id"]].append(fake.send_text(private_chat(p), p, f"{p['first_name']} says {turn}"))


async def test_kill_9_mid_load_loses_no_message_and_answers_each_once_in_order(
    tmp_path: Path, servers: tuple[FakeTelegram, FakeBot, EchoingOpenAI]
) -> None:
    tg, fake, llm = servers
    config = write_config(tmp_path, tg, fake, llm.base_url)
    database = tmp_path / "anima.db"
    first, second = AnimaRun(config, tmp_path / "first.log"), AnimaRun(config, tmp_path / "second.log")
    sent: dict[int, list[dict[str, Any]]] = {p["id"]: [] for p in PEOPLE}
    total = len(PEOPLE) * (BEFORE_KILL + WHILE_DOWN)

    def replied() -> int:
        return sum(len(fake.replies(p["id"])) for p in PEOPLE)

    try:
        await first.start()
        await fake.wait_for(lambda: bool(fake.calls_to("getUpdates")), within_s=START_WITHIN_S)
        for turn in range(BEFORE_KILL):
            send_round(fake, sent, turn)
        # mid-load: some replies finished, some streaming (a fragment shown), the rest waiting
        await fake.wait_for(
            lambda: finished_replies(fake) >= len(PEOPLE) and replied() > finished_replies(fake),
            within_s=STEP_WITHIN_S,
        )
        fake.hold("sendMessage")
        fake.hold("editMessageText")
        await until(lambda: recorded(database, fake), within_s=STEP_WITHIN_S)
        await first.kill()
        fake.release("sendMessage")
        fake.release("editMessageText")
        assert inbox_counts(database)[1] > 0, "the load ended before the kill"
        send_round(fake, sent, BEFORE_KILL)

        await second.start()
        await fake.wait_for(lambda: replied() >= total, within_s=START_WITHIN_S + STEP_WITHIN_S)
        await second.stop()
    finally:
        await first.stop()
        await second.stop()

    handed_out = {
        (str(u["message"]["chat"]["id"]), str(u["message"]["message_id"])) for u in fake.handed_out.values()
    }
    assert handed_out <= stored_user_messages(database)
    for p in PEOPLE:
        assert [m.text for m in fake.replies(p["id"])] == [expected_reply(m["text"]) for m in sent[p["id"]]]
