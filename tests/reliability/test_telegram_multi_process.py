"""Two `anima run` processes serving one Telegram bot's webhook on one PostgreSQL: every update is
answered once, and each chat's replies come in the order its messages were sent.

The test plays Telegram and a load balancer in front of the two processes: it posts each update to
one process's webhook, and every third to both at once (Telegram retrying a webhook while the first
try is still open). Each person sends their next message once Telegram was told 200 for the last,
so the processes may take a chat's updates in any order: the replies must not follow that order.
The real `anima run` runs as a subprocess against the fake Bot API and a streaming fake model here.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import Connection, select

from anima.memory.models import Conversation, InboxItem, Message
from anima.memory.store import MemoryStore
from tests.conftest import REPO
from tests.fakes.telegram_server import FakeBot, FakeTelegram, person, private_chat
from tests.memory.conftest import PostgresCluster, postgres  # noqa: F401  (the throw-away cluster)
from tests.reliability.echo_llm import EchoingOpenAI, expected_reply
from tests.reliability.test_telegram_crash import AnimaRun

PEOPLE = [person(7000 + i, f"T{i}") for i in range(4)]
MESSAGES = 6  # per person
SECRET = "lb-secret"


def write_config(
    tmp_path: Path, name: str, database: str, tg: FakeTelegram, fake: FakeBot, llm_url: str, port: int
) -> Path:
    config = {
        "characters_dir": str(REPO / "characters"),
        "default_character": "aiko",
        "llm": {
            "default": "fake",
            "max_concurrency": 8,
            "backends": {"fake": {"kind": "openai", "base_url": llm_url, "api_key": "k", "model": "m"}},
        },
        "memory": {
            "database_url": database,
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
                    "mode": "webhook",
                    "listen": "127.0.0.1",
                    "port": port,
                    "url": f"http://127.0.0.1:{port}/hook",
                    "secret_token": SECRET,
                    "messages_per_second": 0,
                    "edit_interval_s": 0.15,
                }
            ]
        },
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


@pytest.fixture
def database(postgres: PostgresCluster) -> str:  # noqa: F811
    return postgres.url(postgres.create_database())


@pytest.fixture
async def servers() -> AsyncIterator[tuple[FakeTelegram, FakeBot, EchoingOpenAI]]:
    llm = EchoingOpenAI()
    await llm.start()
    async with FakeTelegram() as tg:
        yield tg, tg.add_bot("aiko_bot", "Aiko"), llm
    await llm.stop()


async def listening(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


async def stored(url: str) -> tuple[dict[str, list[tuple[str, str]]], int]:
    """Every chat's messages as (role, text) in stored order, and how many updates are unanswered."""
    store = await MemoryStore.open(url)

    def read(conn: Connection) -> tuple[dict[str, list[tuple[str, str]]], int]:
        rows = conn.execute(
            select(Conversation.chat_id, Message.role, Message.content)
            .join(Message, Message.conversation_id == Conversation.id)
            .order_by(Message.id)
        ).all()
        chats: dict[str, list[tuple[str, str]]] = {}
        for chat, role, content in rows:
            chats.setdefault(chat, []).append((role, content))
        waiting = conn.execute(select(InboxItem.id).where(InboxItem.answered_at.is_(None))).all()
        return chats, len(waiting)

    try:
        return await store.run(read)
    finally:
        await store.close()


def said(p: dict[str, Any], k: int) -> str:
    return f"{p['first_name']} says {k}"


async def test_two_webhook_processes_answer_each_update_once_in_each_chats_order(
    servers: tuple[FakeTelegram, FakeBot, EchoingOpenAI],
    database: str,
    tmp_path: Path,
    unused_tcp_port_factory: Any,
) -> None:
    tg, fake, llm = servers
    ports = [unused_tcp_port_factory(), unused_tcp_port_factory()]
    runs = [
        AnimaRun(
            write_config(tmp_path, name, database, tg, fake, llm.base_url, port), tmp_path / f"{name}.log"
        )
        for name, port in zip("ab", ports, strict=True)
    ]
    update_ids = itertools.count(1)
    try:
        for run, port in zip(runs, ports, strict=True):  # one at a time: the first creates the schema
            await run.start()
            deadline = asyncio.get_running_loop().time() + 30
            while not await listening(port):  # another process: checked every 50 ms, for a bounded time
                assert asyncio.get_running_loop().time() < deadline, (run.log.read_text())[-2000:]
                await asyncio.sleep(0.05)
        async with aiohttp.ClientSession() as session:

            async def post(port: int, update: dict[str, Any]) -> int:
                headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
                async with session.post(f"http://127.0.0.1:{port}/hook", json=update, headers=headers) as r:
                    return r.status

            async def sends(i: int, p: dict[str, Any]) -> None:
                for k in range(MESSAGES):
                    update = {
                        "update_id": next(update_ids),
                        "message": fake.message(private_chat(p), p, text=said(p, k)),
                    }
                    first, second = (ports[0], ports[1]) if (i + k) % 2 == 0 else (ports[1], ports[0])
                    targets = [first, second] if k % 3 == 0 else [first]
                    assert await asyncio.gather(*(post(port, update) for port in targets)) == [200] * len(
                        targets
                    )

            await asyncio.gather(*(sends(i, p) for i, p in enumerate(PEOPLE)))

        def finished() -> bool:
            return all(sum(m.text.endswith(" la") for m in fake.replies(p["id"])) >= MESSAGES for p in PEOPLE)

        await fake.wait_for(finished, within_s=30)
    finally:
        await asyncio.gather(*(run.stop() for run in runs))
    for p in PEOPLE:
        assert [m.text for m in fake.replies(p["id"])] == [
            expected_reply(said(p, k)) for k in range(MESSAGES)
        ]
    chats, waiting = await stored(database)
    assert waiting == 0
    for p in PEOPLE:
        expected = [
            turn
            for k in range(MESSAGES)
            for turn in (("user", said(p, k)), ("assistant", expected_reply(said(p, k))))
        ]
        assert chats[str(p["id"])] == expected
