"""The SQLite message store: what is stored survives a restart; reset, forget and preferences."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sqlalchemy import func, select

from anima.app import Runtime
from anima.config import Settings
from anima.core.messages import ConversationKey, Incoming
from anima.memory.facts import extract_facts
from anima.memory.models import User
from anima.memory.recall import line_tokens
from anima.memory.store import MemoryStore
from tests.fakes.llm import InstantLLM

KEY = ConversationKey(platform="test", chat_id="chat", user_id="lin", character_id="aiko")
LIN = Incoming(platform="test", chat_id="chat", user_id="lin", display_name="Lin", text="My name is Lin.")


def db_path(settings: Settings) -> Path:
    return Path(settings.database_url.split("///", 1)[1])


async def test_history_survives_a_restart_and_reaches_the_next_prompt(settings: Settings) -> None:
    first = await Runtime.start(settings)
    first.router.register("embedded", InstantLLM())
    await first.pipeline.handle(LIN)
    await first.close()

    second = await Runtime.start(settings)
    llm = InstantLLM()
    second.router.register("embedded", llm)
    await second.pipeline.handle(Incoming(**{**LIN.__dict__, "text": "What is my name?"}))
    await second.close()

    sent = [(m.role, m.content) for m in llm.requests[0].messages if m.role != "system"]
    assert sent == [
        ("user", "My name is Lin."),
        ("assistant", "You said: My name is Lin."),
        ("user", "What is my name?"),
    ]


async def test_history_read_back_after_a_restart_keeps_its_times_in_utc(settings: Settings) -> None:
    """SQLite hands back naive datetimes: the history a restart reads back is as aware as a live one,
    so comparing or subtracting a message's time never mixes naive and aware."""
    first = await Runtime.start(settings)
    first.router.register("embedded", InstantLLM())
    await first.pipeline.handle(LIN)
    live = [m.created_at for m in (await first.memory.conversation(KEY, "Lin")).recent]
    await first.close()

    reopened = await MemoryStore.open(settings.database_url)
    read_back = [m.created_at for m in (await reopened.conversation(KEY, "Lin")).recent]
    await reopened.close()
    assert len(read_back) == 2 and all(at is not None and at.utcoffset() is not None for at in read_back)
    assert read_back == live


async def test_the_users_message_is_committed_before_the_turn_ends_and_before_the_reply(
    runtime: Runtime, settings: Settings
) -> None:
    """The message is written while the reply is made (the reply never waits for the database), so
    during generation it may or may not be committed yet; what holds is that the turn ends (the
    conversation's lock, the inbox's "answered") only once it is, and in the order it was said.
    A failed LLM call keeping it is tests/test_pipeline.py's."""
    runtime.router.register("embedded", InstantLLM(reply=lambda _request: "Nice to meet you, Lin."))
    await runtime.pipeline.handle(LIN)
    with sqlite3.connect(db_path(settings)) as db:
        rows = [tuple(row) for row in db.execute("SELECT role, content FROM messages ORDER BY id")]
    assert rows == [("user", "My name is Lin."), ("assistant", "Nice to meet you, Lin.")]


async def test_the_database_runs_in_wal_mode(runtime: Runtime, settings: Settings) -> None:
    await runtime.pipeline.handle(LIN)
    with sqlite3.connect(db_path(settings)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_reset_starts_a_fresh_history_but_keeps_the_messages_stored(runtime: Runtime) -> None:
    await runtime.pipeline.handle(LIN)
    conversation = await runtime.memory.conversation(KEY, "Lin")
    await runtime.memory.reset(conversation)
    view = await runtime.memory.view(KEY, "Lin")
    assert (view.total_messages, view.in_history) == (2, 0)

    # the reset holds across a restart too
    reopened = await MemoryStore.open(runtime.settings.database_url)
    assert not (await reopened.conversation(KEY, "Lin")).recent
    await reopened.close()


async def test_forget_deletes_every_row_about_the_user_and_nobody_elses(
    runtime: Runtime, settings: Settings
) -> None:
    await runtime.pipeline.handle(LIN)
    await runtime.pipeline.handle(
        Incoming(**{**LIN.__dict__, "user_id": "ana", "display_name": "Ana", "text": "I am Ana."})
    )
    await runtime.memory.set_preference("test", "chat", "voice", True, user_id="lin")

    deleted = await runtime.memory.forget_user("test", "lin")

    assert deleted == 2
    with sqlite3.connect(db_path(settings)) as db:
        assert db.execute("SELECT platform_user_id FROM users").fetchall() == [("ana",)]
        assert [r[0] for r in db.execute("SELECT content FROM messages")] == [
            "I am Ana.",
            "You said: I am Ana.",
        ]
        assert db.execute("SELECT count(*) FROM conversations").fetchone() == (1,)
        assert db.execute("SELECT count(*) FROM preferences").fetchone() == (0,)
    assert not (await runtime.memory.conversation(KEY, "Lin")).recent  # a fresh start, not a stale cache


async def test_preferences_are_remembered_per_chat_and_per_user(runtime: Runtime) -> None:
    memory = runtime.memory
    await memory.set_preference("telegram", "42", "character", "grimble")
    await memory.set_preference("telegram", "42", "voice", True, user_id="lin")
    assert await memory.get_preference("telegram", "42", "character") == "grimble"
    assert await memory.get_preference("telegram", "42", "voice", user_id="lin") is True
    assert await memory.get_preference("telegram", "43", "character") is None
    await memory.set_preference("telegram", "42", "character", None)
    assert await memory.get_preference("telegram", "42", "character") is None


async def test_forget_item_deletes_one_message_and_what_was_learned_from_it(database_url: str) -> None:
    store = await MemoryStore.open(database_url)
    try:
        mine = await store.conversation(ConversationKey("test", "dm", "lin", "aiko"), "Lin")
        theirs = await store.conversation(ConversationKey("test", "dm", "max", "aiko"), "Max")
        said = await store.add(mine, "user", "My cat is called Miso.")
        await store.remember_facts(
            mine, extract_facts(said.content, said.created_at), source_message_id=said.id
        )
        await store.add(mine, "assistant", "Miso is a lovely name for a cat.")
        other = await store.add(theirs, "user", "My cat is called Miso too.")
        kept = await store.kept(mine)
        entry = next(item.entry_id for item in kept if item.kind == "turn" and item.item_id == said.id)
        other_entry = next(i.entry_id for i in await store.kept(theirs) if i.item_id == other.id)

        assert await store.forget_item(mine, other_entry) is None  # another person's memory: untouched
        assert (await store.forget_item(mine, entry)).content == "My cat is called Miso."  # type: ignore[union-attr]
        left = await store.kept(mine)
        assert [item.content for item in left] == ["Miso is a lovely name for a cat."]  # the fact went too
        found = await store.recall(mine, "what is my cat called", skip_recent=0)
        assert [m.text for m in found] == ["Miso is a lovely name for a cat."]

        pinned = await store.pin_item(mine, left[0].entry_id)
        assert pinned is not None and pinned.pinned
        assert [m.text for m in await store.recall(mine, "volcanoes", skip_recent=0)] == [pinned.content]
    finally:
        await store.close()


async def test_a_recalled_turn_comes_with_its_neighbour_from_its_own_conversation(database_url: str) -> None:
    store = await MemoryStore.open(database_url)
    try:
        mine = await store.conversation(ConversationKey("test", "dm", "lin", "aiko"), "Lin")
        theirs = await store.conversation(ConversationKey("test", "dm", "max", "aiko"), "Max")
        await store.add(mine, "user", "Where should I go hiking this summer?")
        await store.add(theirs, "user", "I bought new boots.")  # written between Lin's two turns
        await store.add(mine, "assistant", "The Dolomites: the huts serve great polenta.")
        found = await store.recall(mine, "polenta", skip_recent=0, limit=1)
        exchange = "Lin: Where should I go hiking this summer? / Aiko: The Dolomites: the huts serve"
        assert exchange in found[0].line("Lin", "Aiko")
    finally:
        await store.close()


async def test_the_first_k_recalled_memories_take_at_most_k_times_100_tokens(database_url: str) -> None:
    store = await MemoryStore.open(database_url)
    try:
        mine = await store.conversation(ConversationKey("test", "dm", "lin", "aiko"), "Lin")
        trip = "We hiked past the glacier lake, then the long ridge, then the old stone hut. " * 12
        for place in ("Dolomites", "Pyrenees", "Tatras"):
            await store.add(mine, "user", f"My {place} trip: {trip}")
            await store.add(mine, "assistant", f"The {place} sound wonderful! {trip}")
        speakers = {"lin": "user", "aiko": "assistant"}  # as the pipeline gives them: names cost tokens too
        found = await store.recall(mine, "glacier ridge hut", skip_recent=0, limit=3, speakers=speakers)
        lines = [m.line("Lin", "Aiko") for m in found]
        assert len(lines) == 3  # six turns, shown as three exchanges
        for k in range(1, 4):
            assert sum(line_tokens(m, "Lin", "Aiko") for m in found[:k]) <= 100 * k
        assert all(line.endswith("…") for line in lines)  # every one was cut, and says so
        assert "glacier" in lines[0]  # the memory's own words stay, its neighbour's go first
    finally:
        await store.close()


async def test_a_person_first_seen_by_two_processes_at_once_is_one_person(database_url: str) -> None:
    """Their first messages in two chats, taken by two processes at the same moment (two stores on
    one database): both conversations open, under one stored person."""
    stores = [await MemoryStore.open(database_url) for _ in range(2)]
    try:
        for n in range(20):
            keys = [ConversationKey("discord", f"chat-{n}-{i}", f"person-{n}", "aiko") for i in range(2)]
            await asyncio.gather(*(s.conversation(k, "Lin") for s, k in zip(stores, keys, strict=True)))
        count = select(func.count()).select_from(User)
        assert await stores[0].database.read(lambda conn: conn.execute(count).scalar()) == 20
    finally:
        for store in stores:
            await store.close()
