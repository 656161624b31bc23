"""`anima run` stopped by SIGTERM while a reply streams: the reply finishes (or, past the grace, is cut
and says so), both sides of the turn are stored, and the process exits 0.

The real process runs (`python -m anima run`) against the fake Telegram server and a slow fake
OpenAI-compatible server, both on 127.0.0.1 in the test's own event loop.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
from asyncio.subprocess import PIPE, STDOUT
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.telegram_server import FakeBot, FakeTelegram, person, private_chat

ALICE = person(101, "Alice")
STORY = (
    "Once upon a time a small cat lived on a windowsill in Osaka and watched the trams go by, "
    "one by one, every single morning."
)
# Bounds that only guard against a hang (a test goes on as soon as the step happens): a cold start
# imports PTB, SQLAlchemy and the cards, and a stop closes them, slowly on a loaded 2-core machine.
START_WITHIN_S = 120.0
EXIT_WITHIN_S = 60.0


@dataclass
class Anima:
    process: asyncio.subprocess.Process
    database: Path
    lines: list[str] = field(default_factory=list)  # what it logged so far
    logged: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def read_log(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            async with self.logged:
                self.lines.append(line.decode(errors="replace"))
                self.logged.notify_all()

    async def wait_for_log(self, text: str, within_s: float = 60.0) -> None:
        async with self.logged:
            await asyncio.wait_for(
                self.logged.wait_for(lambda: any(text in line for line in self.lines)), within_s
            )

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def messages(self) -> list[tuple[str, str, int]]:
        with sqlite3.connect(self.database) as db:
            rows = db.execute("SELECT role, content, cut FROM messages ORDER BY id").fetchall()
        db.close()
        return [(role, content, int(cut)) for role, content, cut in rows]

    async def stopped(self, within_s: float, again: bool = False) -> int:
        """SIGTERM (`again`: a second one once the first is taken), then the exit status."""
        self.process.send_signal(signal.SIGTERM)
        if again:
            await self.wait_for_log("stopping gracefully")
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), within_s)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            pytest.fail(f"anima did not exit within {within_s} s of SIGTERM:\n{self.log}")


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(long_poll_cap_s=1.0) as server:
        yield server


@pytest.fixture
async def reading() -> AsyncIterator[list[asyncio.Task[None]]]:
    """The tasks reading anima's output; they end when it exits."""
    tasks: list[asyncio.Task[None]] = []
    yield tasks
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
async def llm() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI(reply=STORY)
    await server.start()
    yield server
    await server.stop()


async def start_anima(
    tmp_path: Path,
    tg: FakeTelegram,
    bot: FakeBot,
    llm: FakeOpenAI,
    reading: list[asyncio.Task[None]],
    grace_s: float,
) -> Anima:
    config = {  # JSON is YAML
        "characters_dir": str(REPO / "characters"),
        "default_character": "aiko",
        "reload_characters": False,
        "shutdown_grace_s": grace_s,
        "llm": {
            "default": "fake",
            "backends": {
                "fake": {
                    "kind": "openai",
                    "base_url": llm.base_url,
                    "api_key": "test",
                    "model": "fake",
                    "max_retries": 0,
                }
            },
        },
        "memory": {
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'anima.db'}",
            "summarize_every": 0,
            "llm_facts_every": 0,
        },
        "voice": {"engines": []},
        "bots": {
            "telegram": [
                {
                    "token": bot.token,
                    "base_url": tg.base_url,
                    "base_file_url": tg.base_file_url,
                    "edit_interval_s": 0.2,
                }
            ]
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "anima", "--config", str(path), "run",
        cwd=REPO, stdin=asyncio.subprocess.DEVNULL, stdout=PIPE, stderr=STDOUT,
    )  # fmt: skip
    anima = Anima(process, tmp_path / "anima.db")
    reading.append(asyncio.get_running_loop().create_task(anima.read_log()))
    try:
        await bot.wait_for(lambda: bool(bot.calls_to("getUpdates")), START_WITHIN_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"anima did not start polling:\n{anima.log}")
    return anima


async def test_a_successful_start_says_so_in_one_info_line_per_bot(
    tmp_path: Path, tg: FakeTelegram, llm: FakeOpenAI, reading: list[asyncio.Task[None]]
) -> None:
    bot = tg.add_bot()
    anima = await start_anima(tmp_path, tg, bot, llm, reading, grace_s=5)
    await anima.wait_for_log("is online")
    started = anima.lines[: next(i for i, line in enumerate(anima.lines) if "is online" in line) + 1]
    assert await anima.stopped(within_s=EXIT_WITHIN_S) == 0
    assert [line for line in started if "WARNING" in line or "ERROR" in line] == []
    assert "INFO anima.bots.service: Aiko is online as @aiko_bot on Telegram" in started[-1]
    assert sum("is online" in line for line in anima.lines) == 1


async def test_a_reply_streaming_at_sigterm_finishes_is_stored_and_anima_exits_0(
    tmp_path: Path, tg: FakeTelegram, llm: FakeOpenAI, reading: list[asyncio.Task[None]]
) -> None:
    bot = tg.add_bot()
    llm.chunk_delay_s = 0.05  # about a second for the whole story
    anima = await start_anima(tmp_path, tg, bot, llm, reading, grace_s=30)
    bot.send_text(private_chat(ALICE), ALICE, "Tell me a story")
    await asyncio.wait_for(llm.streaming.wait(), 60)

    assert await anima.stopped(within_s=EXIT_WITHIN_S) == 0
    assert bot.replies(ALICE["id"])[-1].text == STORY, anima.log
    assert anima.messages() == [("user", "Tell me a story", 0), ("assistant", STORY, 0)]


async def test_a_reply_longer_than_the_grace_is_cut_stored_as_cut_and_anima_exits_0(
    tmp_path: Path, tg: FakeTelegram, llm: FakeOpenAI, reading: list[asyncio.Task[None]]
) -> None:
    bot = tg.add_bot()
    # A first sentence, then a word every 2 s: the whole story would take about a minute.
    told = "Once upon a time. " + STORY
    llm.pieces = [word if i == 0 else " " + word for i, word in enumerate(told.split(" "))]
    llm.chunk_delay_s = 2.0
    anima = await start_anima(tmp_path, tg, bot, llm, reading, grace_s=0.5)
    bot.send_text(private_chat(ALICE), ALICE, "Tell me a story")
    await bot.wait_for_replies(ALICE["id"])  # the first sentence is shown: anima has part of the reply

    assert await anima.stopped(within_s=EXIT_WITHIN_S) == 0
    said, (role, kept, cut) = anima.messages()
    assert said == ("user", "Tell me a story", 0)
    assert role == "assistant" and cut == 1
    assert kept.endswith(" …") and told.startswith(kept.removesuffix(" …")) and kept != told
    assert bot.replies(ALICE["id"])[-1].text.startswith(kept)


async def test_a_second_sigterm_cuts_the_reply_at_once_and_anima_exits_0(
    tmp_path: Path, tg: FakeTelegram, llm: FakeOpenAI, reading: list[asyncio.Task[None]]
) -> None:
    bot = tg.add_bot()
    llm.pieces = [
        word if i == 0 else " " + word for i, word in enumerate(f"Once upon a time. {STORY}".split(" "))
    ]
    llm.chunk_delay_s = 2.0
    anima = await start_anima(tmp_path, tg, bot, llm, reading, grace_s=600)
    bot.send_text(private_chat(ALICE), ALICE, "Tell me a story")
    await bot.wait_for_replies(ALICE["id"])  # the first sentence is shown: anima has part of the reply

    assert await anima.stopped(within_s=EXIT_WITHIN_S, again=True) == 0
    assert [(role, cut) for role, _, cut in anima.messages()] == [("user", 0), ("assistant", 1)]
