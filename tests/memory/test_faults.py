"""A locked database: the reply still goes out, the write is retried, nothing acknowledged is lost."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from anima.core.messages import Incoming
from anima.core.runtime import Runtime
from tests.fakes.llm import InstantLLM


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
