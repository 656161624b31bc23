"""`anima memory copy --to URL`: a SQLite memory moved to another database keeps every conversation."""

from __future__ import annotations

from pathlib import Path

import pytest

from anima.app import Runtime
from anima.config import MemorySettings, Settings
from anima.core.messages import ConversationKey, Incoming
from anima.errors import AnimaError
from anima.memory.copy import copy_database
from anima.memory.store import MemoryStore
from tests.fakes.llm import InstantLLM
from tests.memory.conftest import PostgresCluster

REPO = Path(__file__).resolve().parents[2]


async def talk(url: str, *texts: str) -> None:
    memory = MemorySettings(database_url=url, llm_facts_every=0)
    runtime = await Runtime.start(Settings(characters_dir=REPO / "characters", memory=memory))
    runtime.router.register("embedded", InstantLLM())
    for text in texts:
        await runtime.pipeline.handle(Incoming("telegram", "c1", "u1", "Lin", text))
    await runtime.close()


async def history(url: str) -> list[str]:
    store = await MemoryStore.open(url)
    conversation = await store.conversation(ConversationKey("telegram", "c1", "u1", "aiko"), "Lin")
    await store.close()
    return [turn.content for turn in conversation.recent]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/anima.db"


async def test_a_copy_holds_every_message_and_goes_on_from_there(sqlite_url: str, tmp_path: Path) -> None:
    target = f"sqlite+aiosqlite:///{tmp_path}/copy.db"
    await talk(sqlite_url, "my cat is called Miso", "she likes tuna")

    await copy_database(sqlite_url, target, progress=lambda _line: None)
    await talk(target, "what is my cat called?")

    said = await history(target)
    assert said[:4] == await history(sqlite_url)
    assert said[4:] == ["what is my cat called?", "You said: what is my cat called?"]


async def test_a_copy_into_postgresql_keeps_messages_searchable_and_new_ids_free(
    sqlite_url: str, postgres: PostgresCluster
) -> None:
    target = postgres.url(postgres.create_database())
    await talk(sqlite_url, "my cat is called Miso", "she likes tuna")

    await copy_database(sqlite_url, target, progress=lambda _line: None)
    await talk(target, "what is my cat called?")

    assert len(await history(target)) == 6
    store = await MemoryStore.open(target)
    conversation = await store.conversation(ConversationKey("telegram", "c1", "u1", "aiko"), "Lin")
    found = await store.recall(conversation, "Miso", skip_recent=0)
    await store.close()
    assert any("Miso" in memory.text for memory in found)


async def test_a_copy_refuses_a_database_that_already_has_rows(sqlite_url: str, tmp_path: Path) -> None:
    target = f"sqlite+aiosqlite:///{tmp_path}/copy.db"
    await talk(sqlite_url, "hello")
    await talk(target, "hi")

    with pytest.raises(AnimaError, match="already has rows"):
        await copy_database(sqlite_url, target, progress=lambda _line: None)
