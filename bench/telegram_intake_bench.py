"""Telegram's durable intake: what storing each update first costs, and how long a reply stays
unrecorded after Telegram took it (a kill -9 inside that window sends the reply again at restart).

1. cost: 2000 updates through the adapter's queue one at a time: `put` claims each in the inbox
   (SQLite file, WAL), then it is marked answered; CPU and wall time per update.
2. window: 20 people × 5 messages through the real adapter (PTB against the fake Bot API, instant
   LLM); for each reply, the time from the fake server storing the message to `answered_at`.

Run: .venv/bin/python -m bench telegram_intake_bench
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from telegram import Bot, Update

from anima.app import Runtime
from anima.bots.telegram import TelegramAdapter
from anima.bots.telegram.intake import DurableQueue
from anima.config import MemorySettings, Settings, TelegramBotSettings
from tests.fakes.llm import InstantLLM
from tests.fakes.telegram_server import FakeTelegram, person, private_chat

COMMAND = ".venv/bin/python -m bench telegram_intake_bench"
REPO = Path(__file__).resolve().parent.parent


def _raw(i: int) -> dict[str, Any]:
    chat = {"id": 5, "type": "private", "first_name": "A"}
    sender = {"id": 5, "is_bot": False, "first_name": "A"}
    message = {"message_id": i, "date": 1, "chat": chat, "from": sender, "text": f"hello number {i}"}
    return {"update_id": 1000 + i, "message": message}


async def intake_cost(directory: Path, count: int = 2000) -> tuple[float, float]:
    settings = Settings(
        characters_dir=REPO / "characters",
        default_character="aiko",
        memory=MemorySettings(database_url=f"sqlite+aiosqlite:///{directory / 'cost.db'}"),
    )
    runtime = await Runtime.start(settings)
    bot = Bot("1:x")
    updates = [Update.de_json(_raw(i), bot) for i in range(count)]
    queue = DurableQueue(runtime.conversations)
    queue.bot_id = "1"
    cpu, wall = time.process_time(), time.perf_counter()
    for update in updates:
        await queue.put(update)
        queue.get_nowait()
        await runtime.conversations.answered(queue.delivery(update))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await runtime.close()
    return 1000 * cpu / count, 1000 * wall / count


async def unrecorded_window(directory: Path, people: int = 20, each: int = 5) -> list[float]:
    database = directory / "window.db"
    settings = Settings(
        characters_dir=REPO / "characters",
        default_character="aiko",
        memory=MemorySettings(database_url=f"sqlite+aiosqlite:///{database}"),
    )
    runtime = await Runtime.start(settings)
    runtime.router.register("embedded", InstantLLM())
    async with FakeTelegram() as tg:
        fake = tg.add_bot()
        bot_settings = TelegramBotSettings(
            token=SecretStr(fake.token),
            base_url=tg.base_url,
            base_file_url=tg.base_file_url,
            messages_per_second=0,
        )
        adapter = TelegramAdapter(runtime, bot_settings, 0)
        await adapter.start()
        chats = [person(9000 + i, f"W{i}") for i in range(people)]
        for turn in range(each):
            for p in chats:
                fake.send_text(private_chat(p), p, f"message {turn}")
        await fake.wait_for(lambda: sum(len(fake.replies(p["id"])) for p in chats) >= people * each, 120)
        await adapter.stop()
        wall_minus_monotonic = time.time() - time.monotonic()
    await runtime.close()
    taken: dict[int, list[float]] = {}
    for (chat, _), sent in sorted(fake.messages.items()):
        taken.setdefault(chat, []).append(sent.versions[0][0] + wall_minus_monotonic)
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT payload, answered_at FROM inbox ORDER BY id").fetchall()
    answered: dict[int, list[float]] = {}
    for payload, at in rows:
        chat = json.loads(payload)["message"]["chat"]["id"]
        answered.setdefault(chat, []).append(datetime.fromisoformat(at).replace(tzinfo=UTC).timestamp())
    return sorted(1000 * (a - t) for chat in taken for t, a in zip(taken[chat], answered[chat], strict=True))


async def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        cpu, wall = await intake_cost(Path(directory))
        gaps = await unrecorded_window(Path(directory))
    print(f"`{COMMAND}`\n")
    print("| measure | value |\n|---|---|")
    print(f"| claim + mark answered, CPU per update | {cpu:.2f} ms |")
    print(f"| claim + mark answered, wall per update (one at a time) | {wall:.2f} ms |")
    p90 = gaps[int(0.9 * len(gaps))]
    print(
        f"| reply taken → recorded answered ({len(gaps)} replies, 20 chats at once) | "
        f"median {statistics.median(gaps):.0f} ms, p90 {p90:.0f} ms, max {gaps[-1]:.0f} ms |"
    )
