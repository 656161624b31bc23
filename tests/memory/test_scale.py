"""The scale bench's store (anima/memory/scale.py), on SQLite and PostgreSQL: built in bulk, it holds
what the store's own writes would, recall in it stays within each chat, and it takes new messages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Connection, select
from sqlmodel import col

from anima.core.messages import ConversationKey
from anima.errors import MemoryStoreError
from anima.memory.models import Message, SearchEntry, primary
from anima.memory.scale import START, Size, Talk, build, built_rows
from anima.memory.store import MemoryStore


def _indexed(conn: Connection, conversation_id: int) -> list[tuple[str, str, str, str, float]]:
    columns = [col(getattr(SearchEntry, name)) for name in ("kind", "role", "body", "context", "importance")]
    rows = conn.execute(
        select(*columns)
        .where(col(SearchEntry.conversation_id) == conversation_id)
        .order_by(primary(SearchEntry.id))
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]  # five columns selected


async def test_a_bulk_build_indexes_turns_as_the_store_does_one_by_one(database_url: str) -> None:
    store = await MemoryStore.open(database_url)
    state = await store.conversation(ConversationKey("test", "dm", "lin", "aiko"), "Lin")
    said = ["I adopted a cat named Momo.", "What a lovely name!", "She sleeps on my keyboard, café au lait."]
    for i, line in enumerate(said):
        await store.add(state, "user" if i % 2 == 0 else "assistant", line, at=START + timedelta(minutes=i))

    kept = await store.read(lambda conn: _indexed(conn, state.id))
    messages, entries = built_rows(store.database.dialect, state.id, said, 0)
    await store.close()

    assert [(m["role"], m["content"]) for m in messages] == [
        (r[1], line) for r, line in zip(kept, said, strict=True)
    ]
    assert [(e["kind"], e["role"], e["body"], e["context"], e["importance"]) for e in entries] == kept


def _lines(users: int, per_user: int) -> list[list[str]]:
    talk = Talk()
    return [[talk.line() for _ in range(per_user)] for _ in range(users)]


async def test_a_built_store_is_kept_recalls_within_each_chat_and_takes_new_messages(
    database_url: str,
) -> None:
    size, progress = Size(messages=24, users=2), list[str]()
    store = await MemoryStore.open(database_url)
    assert not (await build(store, database_url, size, False, progress.append))[1]
    assert (await build(store, database_url, size, False, progress.append))[
        1
    ]  # the second time: kept, not built again
    assert progress[0] == "indexing 24 messages"

    first, second = _lines(2, 12)
    word = next(w for line in second for w in line.strip(".").split() if all(w not in x for x in first))
    chats = [
        await store.conversation(ConversationKey("bench", f"c{n}", f"u{n}", "aiko"), f"U{n}") for n in (0, 1)
    ]
    now = START + timedelta(days=30)
    elsewhere = await store.recall(chats[0], f"what about {word}?", now=now, skip_recent=0)
    found = await store.recall(chats[1], f"what about {word}?", now=now, skip_recent=0)
    assert all(word not in m.text for m in elsewhere)
    assert any(word in m.text for m in found)

    new = await store.add(chats[0], "user", "My tortoise Zebedee turned ninety.", at=now)
    assert new.id > 24  # after the built ids: PostgreSQL's id sequences moved past them
    recalled = await store.recall(chats[0], "how old is Zebedee?", now=now, skip_recent=0)
    assert recalled[0].item_id == new.id
    await store.close()


async def test_a_database_with_other_messages_is_not_built_into(database_url: str) -> None:
    store = await MemoryStore.open(database_url)
    state = await store.conversation(ConversationKey("test", "dm", "lin", "aiko"), "Lin")
    await store.add(state, "user", "Hello there.")
    with pytest.raises(MemoryStoreError, match="holds 1 messages but not a scale build of 10"):
        await build(store, database_url, Size(messages=10, users=1), False, print)
    count = await store.read(lambda conn: len(conn.execute(select(primary(Message.id))).all()))
    await store.close()
    assert count == 1
