"""Several `anima run` processes on one PostgreSQL: each conversation strictly ordered, each message
answered once, and a process that dies gives its conversations back.

Two OS processes (tests/reliability/multi_process_worker.py) run the real Runtime on one throw-away
PostgreSQL cluster. Both receive the same interleaved stream of four conversations, some messages
twice: every message reaches both processes, as a duplicate delivery or a retried webhook would.
The fake model's reply names the message it answers and the user message before it in the prompt,
so the stored conversations show what each turn saw, whichever process answered it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select, text

from anima.memory.models import Conversation, Message
from anima.memory.store import MemoryStore
from tests.conftest import REPO
from tests.memory.conftest import PostgresCluster, postgres  # noqa: F401  (the throw-away cluster)

CONVERSATIONS = 4
MESSAGES = 10


def message_id(conversation: int, k: int) -> str:
    return f"c{conversation}-m{k:02d}"


def interleaved_stream(conversations: int = CONVERSATIONS, messages: int = MESSAGES) -> list[dict[str, str]]:
    """Conversations interleaved message by message; every third delivery comes twice."""
    stream = []
    for k in range(messages):
        for c in range(conversations):
            item = {
                "id": message_id(c, k),
                "text": message_id(c, k),
                "chat": f"chat-{c}",
                "user": f"user-{c}",
            }
            stream.append(item)
            if len(stream) % 3 == 0:
                stream.append(item)
    return stream


@dataclass
class Worker:
    name: str
    process: asyncio.subprocess.Process
    events: list[dict[str, Any]] = field(default_factory=list)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            async with self._changed:
                self.events.append(json.loads(line))
                self._changed.notify_all()
        async with self._changed:
            self.events.append({"event": "exited"})
            self._changed.notify_all()

    async def until(self, event: str, within_s: float = 60.0) -> None:
        async with asyncio.timeout(within_s), self._changed:
            await self._changed.wait_for(lambda: any(e["event"] in (event, "exited") for e in self.events))
        assert any(e["event"] == event for e in self.events), f"{self.name} exited before {event}"

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")

    def sent(self) -> list[str]:
        return [e["id"] for e in self.events if e["event"] == "sent"]


@pytest.fixture
def database(postgres: PostgresCluster) -> str:  # noqa: F811
    return postgres.url(postgres.create_database())


@pytest.fixture
async def workers(database: str, tmp_path: Path) -> AsyncIterator[Any]:
    started: list[Worker] = []

    async def start(name: str, stream: list[dict[str, str]], freeze_at: str | None = None) -> Worker:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(stream))
        args = ["-m", "tests.reliability.multi_process_worker", database, str(path), name]
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            *(["--freeze-at", freeze_at] if freeze_at else []),
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        worker = Worker(name, process)
        worker._reader = asyncio.create_task(worker.read())
        started.append(worker)
        await worker.until("started")
        return worker

    yield start
    for worker in started:
        if worker.process.returncode is None:
            worker.process.kill()
        await worker.process.wait()
        if worker._reader is not None:
            await worker._reader


async def stored_conversations(url: str) -> dict[str, list[tuple[str, str]]]:
    """Every conversation's messages as (role, text), in the order they were stored."""
    store = await MemoryStore.open(url)

    def read(conn: Connection) -> dict[str, list[tuple[str, str]]]:
        rows = conn.execute(
            select(Conversation.chat_id, Message.role, Message.content)
            .join(Message, Message.conversation_id == Conversation.id)
            .order_by(Message.id)
        ).all()
        found: dict[str, list[tuple[str, str]]] = {}
        for chat, role, content in rows:
            found.setdefault(chat, []).append((role, content))
        return found

    try:
        return await store.run(read)
    finally:
        await store.close()


def expected_conversation(conversation: int, messages: int = MESSAGES) -> list[tuple[str, str]]:
    turns: list[tuple[str, str]] = []
    for k in range(messages):
        before = message_id(conversation, k - 1) if k else "-"
        turns += [
            ("user", message_id(conversation, k)),
            ("assistant", f"re {message_id(conversation, k)} after {before}"),
        ]
    return turns


async def test_two_processes_answer_each_message_once_in_conversation_order(
    workers: Any, database: str
) -> None:
    stream = interleaved_stream()
    a, b = await asyncio.gather(workers("a", stream), workers("b", stream))
    a.go(), b.go()
    await asyncio.gather(a.until("done"), b.until("done"))

    replies = Counter(a.sent() + b.sent())
    assert replies == Counter({item["id"]: 1 for item in stream})
    stored = await stored_conversations(database)
    assert stored == {f"chat-{c}": expected_conversation(c) for c in range(CONVERSATIONS)}


async def test_a_killed_process_releases_its_conversations_to_the_other(workers: Any, database: str) -> None:
    stream = interleaved_stream(conversations=3, messages=6)
    frozen_at = message_id(0, 2)
    a, b = await asyncio.gather(workers("a", stream, freeze_at=frozen_at), workers("b", stream))
    a.go()
    await a.until("frozen")  # a hangs mid-turn, holding c0's lock (and those of any turn it had started)
    b.go()
    store = await MemoryStore.open(database)
    held = await store.run(
        lambda conn: conn.execute(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
        ).scalar()
    )
    await store.close()
    assert held >= 1
    assert frozen_at not in b.sent()

    a.process.kill()
    await b.until("done")

    assert frozen_at not in a.sent()
    assert {"resumed"} == {e["event"] for e in b.events if e.get("id") == frozen_at and e["event"] != "sent"}
    assert Counter(a.sent() + b.sent()) == Counter({item["id"]: 1 for item in stream})
    stored = await stored_conversations(database)
    assert stored == {f"chat-{c}": expected_conversation(c, messages=6) for c in range(3)}
