"""Database faults (locked by another process, a full disk, a lost PostgreSQL connection): the reply
still goes out, the write is retried until it lands, and the outage is logged once."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from anima.app import Runtime
from anima.config import MemorySettings, Settings
from anima.core.messages import ConversationKey, Incoming
from anima.memory.store import MemoryStore
from tests.conftest import REPO
from tests.fakes.llm import InstantLLM
from tests.memory.conftest import PostgresCluster

# Another process: takes SQLite's write lock, says so, and holds it until its stdin closes.
HOLD_WRITE_LOCK = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
db.rollback()
"""


def _db_file(runtime: Runtime) -> Path:
    return Path(runtime.settings.database_url.split("///", 1)[1])


async def _locked_out(runtime: Runtime) -> sqlite3.Connection:
    """Lin has talked before; now another process holds the write lock, and our writes give up
    after 50 ms instead of 5 s."""
    await runtime.pipeline.handle(Incoming("test", "dm", "lin", "Lin", "hello"))
    await runtime.memory.run(lambda conn: conn.exec_driver_sql("PRAGMA busy_timeout=50"))
    other = sqlite3.connect(_db_file(runtime), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


async def test_a_locked_database_does_not_stop_the_reply(runtime: Runtime, instant_llm: InstantLLM) -> None:
    other = await _locked_out(runtime)
    try:
        reply = await runtime.pipeline.handle(Incoming("test", "dm", "lin", "Lin", "Are you there?"))
    finally:
        other.rollback()
        other.close()
    assert reply is not None and reply.text == "You said: Are you there?"


async def test_messages_written_while_locked_are_stored_in_order_once_it_clears(runtime: Runtime) -> None:
    other = await _locked_out(runtime)
    try:
        await runtime.pipeline.handle(Incoming("test", "dm", "lin", "Lin", "first"))
        await runtime.pipeline.handle(Incoming("test", "dm", "lin", "Lin", "second"))
        stored = [row[0] for row in other.execute("SELECT content FROM messages ORDER BY id")]
    finally:
        other.rollback()
        other.close()
    assert stored == ["hello", "You said: hello"]

    assert await runtime.memory.flush()
    with sqlite3.connect(_db_file(runtime)) as db:
        rows = [row[0] for row in db.execute("SELECT content FROM messages ORDER BY id")]
    assert rows == ["hello", "You said: hello", "first", "You said: first", "second", "You said: second"]


def _said(text: str) -> Incoming:
    return Incoming("test", "dm", "lin", "Lin", text)


def _stored(runtime: Runtime) -> list[str]:
    with sqlite3.connect(_db_file(runtime)) as db:
        rows = [row[0] for row in db.execute("SELECT content FROM messages ORDER BY id")]
    db.close()
    return rows


@asynccontextmanager
async def another_process_writing(database: Path) -> AsyncIterator[None]:
    """Another process (a second `anima`, a backup, the sqlite3 shell) holds the write lock."""
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLD_WRITE_LOCK, str(database),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert await asyncio.wait_for(holder.stdout.readline(), 20) == b"locked\n"
        yield
    finally:
        holder.stdin.close()
        await asyncio.wait_for(holder.wait(), 20)


async def _impatient(runtime: Runtime) -> None:
    """Our writes give up on a held lock after 50 ms instead of busy_timeout's 5 s."""
    await runtime.memory.run(lambda conn: conn.exec_driver_sql("PRAGMA busy_timeout=50"))


async def test_messages_written_while_another_process_holds_the_lock_land_once_it_lets_go(
    runtime: Runtime,
) -> None:
    await runtime.pipeline.handle(_said("hello"))
    await _impatient(runtime)
    async with another_process_writing(_db_file(runtime)):
        reply = await runtime.pipeline.handle(_said("Are you there?"))
        assert reply is not None and reply.text == "You said: Are you there?"

    assert await runtime.memory.settled(within_s=60)  # the background retries, nobody calls flush
    assert _stored(runtime) == ["hello", "You said: hello", "Are you there?", "You said: Are you there?"]


async def test_older_memories_are_recalled_while_another_process_holds_the_write_lock(
    runtime: Runtime,
) -> None:
    await runtime.pipeline.handle(_said("My cat is called Mochi"))
    state = await runtime.memory.conversation(
        runtime.pipeline.key_for(_said(""), runtime.characters.get("aiko")), "Lin"
    )
    async with another_process_writing(_db_file(runtime)):
        memories = await runtime.memory.recall(state, "what is my cat called?", skip_recent=0)
    assert any("Mochi" in memory.text for memory in memories)


async def test_a_full_disk_holds_back_no_reply_and_the_messages_land_once_there_is_room(
    runtime: Runtime,
) -> None:
    await runtime.pipeline.handle(_said("hello"))
    pages = await runtime.memory.run(lambda conn: conn.exec_driver_sql("PRAGMA page_count").scalar())
    await runtime.memory.run(lambda conn: conn.exec_driver_sql(f"PRAGMA max_page_count={pages}"))
    long = "A long story about the sea. " * 130  # needs new pages: SQLITE_FULL

    reply = await runtime.pipeline.handle(_said(long))
    assert reply is not None and reply.text.startswith("You said: A long story about the sea.")
    assert _stored(runtime) == ["hello", "You said: hello"]

    await runtime.memory.run(lambda conn: conn.exec_driver_sql("PRAGMA max_page_count=1073741823"))
    assert await runtime.memory.settled(within_s=60)
    assert _stored(runtime)[2:] == [long, reply.text]


async def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    other = await _locked_out(runtime)
    caplog.set_level(logging.WARNING, logger="anima.memory.store")
    try:
        for text in ("one", "two", "three"):
            await runtime.pipeline.handle(_said(text))
    finally:
        other.rollback()
        other.close()
    assert await runtime.memory.flush()

    logged = [r for r in caplog.records if r.name == "anima.memory.store"]
    assert [r.levelname for r in logged] == ["ERROR", "WARNING"]
    assert "database is locked" in logged[0].getMessage()
    assert "stored the 6 messages that waited" in logged[1].getMessage()


@pytest.fixture
async def on_postgres(
    postgres: PostgresCluster, instant_llm: InstantLLM
) -> AsyncIterator[tuple[Runtime, str]]:
    """A runtime on a fresh PostgreSQL database, and that database's name."""
    name = postgres.create_database()
    memory = MemorySettings(database_url=postgres.url(name), summarize_every=0, llm_facts_every=0)
    runtime = await Runtime.start(Settings(characters_dir=REPO / "characters", memory=memory))
    runtime.router.register("embedded", instant_llm)
    yield runtime, name
    await runtime.close()


async def _backend_waiting_for_a_lock(admin: asyncpg.Connection) -> int:
    """The pid of our backend once it waits for the lock (PostgreSQL has no event for it: poll, bounded)."""
    query = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    for _ in range(2400):  # a hang guard: the first recall may still be loading the encoder
        pid = await admin.fetchval(query)
        if pid is not None:
            return int(pid)
        await asyncio.sleep(0.025)
    raise AssertionError("no backend waited for the lock within 60 s")


async def test_a_postgresql_connection_lost_during_a_write_holds_back_no_reply_and_the_messages_land(
    postgres: PostgresCluster, on_postgres: tuple[Runtime, str]
) -> None:
    runtime, database = on_postgres
    await runtime.pipeline.handle(_said("hello"))
    admin = await asyncpg.connect(host=str(postgres.root), user="anima", database=database)
    try:
        locking = admin.transaction()
        await locking.start()
        await admin.execute("LOCK TABLE messages IN EXCLUSIVE MODE")  # reads pass, our next write waits…
        answering = asyncio.create_task(runtime.pipeline.handle(_said("Are you there?")))
        pid = await _backend_waiting_for_a_lock(admin)
        await admin.execute("SELECT pg_terminate_backend($1)", pid)  # …and its connection is lost
        await locking.rollback()

        reply = await asyncio.wait_for(answering, 20)
        assert reply is not None and reply.text == "You said: Are you there?"
        assert await runtime.memory.settled(within_s=60)
        rows = [r["content"] for r in await admin.fetch("SELECT content FROM messages ORDER BY id")]
    finally:
        await admin.close()
    assert rows == ["hello", "You said: hello", "Are you there?", "You said: Are you there?"]


async def test_recall_after_postgresql_dropped_every_pooled_connection_still_finds_the_memory(
    postgres: PostgresCluster,
) -> None:
    name = postgres.create_database()
    store = await MemoryStore.open(postgres.url(name))
    admin = await asyncpg.connect(host=str(postgres.root), user="anima", database=name)
    try:
        state = await store.conversation(ConversationKey("telegram", "42", "lin", "aiko"), "Lin")
        await store.add(state, "user", "I adopted a cat called Miso.")
        assert [m.text for m in await store.recall(state, "my cat?", skip_recent=0)]  # pooled now
        dropped = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert dropped >= 1
        found = await store.recall(state, "my cat?", skip_recent=0)
    finally:
        await admin.close()
        await store.close()
    assert [m.text for m in found] == ["I adopted a cat called Miso."]
