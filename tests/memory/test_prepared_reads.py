"""Recall's prepared reads (anima.memory.database.PreparedRead): the rows SQLAlchemy would give."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection

from anima.core.messages import ConversationKey
from anima.memory.recall import _CURRENT_FACTS, _TEXTS
from anima.memory.store import MemoryStore


async def test_a_prepared_read_gives_the_rows_and_types_sqlalchemy_gives(database_url: str) -> None:
    store = await MemoryStore.open(database_url)
    try:
        state = await store.conversation(ConversationKey("test", "dm", "lin", "aiko"), "Lin")
        said = [await store.add(state, "user", f"line {n}") for n in range(3)]
        ids = [m.id for m in said]

        def both(conn: Connection) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
            plain = [tuple(row) for row in conn.execute(_TEXTS["turn"].statement, {"ids": ids})]
            return plain, _TEXTS["turn"].rows(conn, {"ids": ids})

        plain, prepared = await store.read(both)
        facts = await store.read(lambda conn: _CURRENT_FACTS.rows(conn, {"conversation": state.id}))
    finally:
        await store.close()
    assert sorted(prepared) == sorted(plain) and len(prepared) == 3
    assert [tuple(map(type, row)) for row in sorted(prepared)] == [
        tuple(map(type, row)) for row in sorted(plain)
    ]
    assert facts == []


async def test_an_empty_list_for_an_expanding_parameter_is_refused(tmp_path: Path) -> None:
    store = await MemoryStore.open(f"sqlite:///{tmp_path}/a.db")
    try:
        with pytest.raises(ValueError, match="ids: an expanding parameter needs at least one value"):
            await store.read(lambda conn: _TEXTS["turn"].rows(conn, {"ids": []}))
    finally:
        await store.close()
