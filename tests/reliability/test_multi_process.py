"""Several `anima run` processes on one PostgreSQL: each conversation strictly ordered, each message
answered once, and a process that dies gives its conversations back.

Two OS processes (tests/reliability/multi_process_worker.py) run the real Runtime on one throw-away
PostgreSQL cluster and take deliveries as a platform adapter does. The test plays the platform and
a load balancer: it decides which process gets each message, and which get it twice. The fake
model's reply names the message it answers and the user message before it in the prompt, so the
stored conversations show what each turn saw, whichever process answered it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from collections.abc import AsyncIterator
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


def item_of(conversation: int, k: int) -> dict[str, str]:
    """The k-th message of a conversation (one person in one chat)."""
    text = message_id(conversation, k)
    return {"id": text, "text": text, "chat": f"chat-{conversation}", "user": f"user-{conversation}"}


class Worker:
    """One worker process: deliveries go in on its stdin, its events come back on its stdout."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, changed: asyncio.Condition) -> None:
        self.name, self.process, self.changed = name, process, changed
        self.events: list[dict[str, Any]] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            async with self.changed:
                self.events.append(json.loads(line))
                self.changed.notify_all()
        async with self.changed:
            self.events.append({"event": "exited"})
            self.changed.notify_all()

    def deliver(self, item: dict[str, str]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(item).encode() + b"\n")

    def end_of_deliveries(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()

    def saw(self, event: str, item_id: str | None = None) -> bool:
        return any(e["event"] == event and (item_id is None or e.get("id") == item_id) for e in self.events)

    async def until(self, event: str, within_s: float = 60.0) -> None:
        async with asyncio.timeout(within_s), self.changed:
            await self.changed.wait_for(lambda: self.saw(event) or self.saw("exited"))
        assert self.saw(event), f"{self.name} exited before {event}"

    def sent(self) -> list[str]:
        return [e["id"] for e in self.events if e["event"] == "sent"]


@pytest.fixture
def database(postgres: PostgresCluster) -> str:  # noqa: F811
    return postgres.url(postgres.create_database())


@pytest.fixture
async def workers(database: str) -> AsyncIterator[Any]:
    """`await workers("a", "b", freeze_at={"a": TEXT})`: the worker processes, started and ready."""
    started: list[Worker] = []
    changed = asyncio.Condition()

    async def start(*names: str, freeze_at: dict[str, str] | None = None) -> list[Worker]:
        for name in names:
            frozen = (freeze_at or {}).get(name)
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.reliability.multi_process_worker", database, name,
                *(["--freeze-at", frozen] if frozen else []),
                cwd=REPO, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            started.append(Worker(name, process, changed))
        ready = started[-len(names) :]
        await asyncio.gather(*(w.until("started") for w in ready))
        return ready

    yield start
    for worker in started:
        if worker.process.returncode is None:
            worker.process.kill()
        await worker.process.wait()
        await worker.reader


async def claimed(workers: list[Worker], item_id: str, within_s: float = 60.0) -> None:
    """Wait until one of the workers claimed the message (took it to answer)."""
    changed = workers[0].changed
    async with asyncio.timeout(within_s), changed:
        await changed.wait_for(
            lambda: any(w.saw("new", item_id) or w.saw("resumed", item_id) for w in workers)
        )


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
    a, b = await workers("a", "b")

    async def person(c: int) -> None:
        """Sends each message once the previous one was taken; the balancer alternates processes,
        and every third message reaches both at once (a retried webhook racing the first try)."""
        for k in range(MESSAGES):
            item = item_of(c, k)
            first, second = (a, b) if (c + k) % 2 == 0 else (b, a)
            first.deliver(item)
            if k % 3 == 0:
                second.deliver(item)
            await claimed([a, b], item["id"])

    await asyncio.gather(*(person(c) for c in range(CONVERSATIONS)))
    a.end_of_deliveries(), b.end_of_deliveries()
    await asyncio.gather(a.until("done"), b.until("done"))

    every = [message_id(c, k) for c in range(CONVERSATIONS) for k in range(MESSAGES)]
    assert Counter(a.sent() + b.sent()) == Counter(every)
    assert a.sent() and b.sent()
    stored = await stored_conversations(database)
    assert stored == {f"chat-{c}": expected_conversation(c) for c in range(CONVERSATIONS)}


async def test_a_killed_process_releases_its_conversations_to_the_other(workers: Any, database: str) -> None:
    conversations, messages = 3, 6
    stream = [item_of(c, k) for k in range(messages) for c in range(conversations)]
    frozen_at = message_id(0, 2)
    a, b = await workers("a", "b", freeze_at={"a": frozen_at})
    for item in stream:
        a.deliver(item)
    await a.until("frozen")  # a hangs mid-turn, holding c0's lock (and those of any turn it had started)
    for item in stream:  # every message reaches b too, as a redelivery would
        b.deliver(item)
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
    b.end_of_deliveries()
    await b.until("done")

    assert frozen_at not in a.sent()
    assert b.saw("resumed", frozen_at)
    assert Counter(a.sent() + b.sent()) == Counter(item["id"] for item in stream)
    stored = await stored_conversations(database)
    assert stored == {f"chat-{c}": expected_conversation(c, messages) for c in range(conversations)}
