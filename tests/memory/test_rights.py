"""A person's data rights on SQLite and PostgreSQL: forget leaves no trace of them in any table,
export holds all of it, and a forget racing a message in flight leaves nothing behind."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from datetime import timedelta

from sqlalchemy import Connection, inspect, text

from anima.app import Runtime
from anima.core.messages import ConversationKey, Incoming, KeptPicture
from anima.llm.base import GenerationRequest
from anima.memory.inbox import Delivery, Inbox
from anima.memory.models import utcnow
from anima.memory.store import MemoryStore
from anima.safety.audit import Where
from anima.safety.verdict import Verdict
from anima.soul.changes import Change, Source
from tests.fakes.llm import InstantLLM

LIN_ID = "424242"  # a Telegram user: their private chat has their id
CANARY = "Zanzibarcanary"  # a word only Lin ever says: forget must leave it nowhere
LIN = Incoming("telegram", LIN_ID, LIN_ID, "Lin", "")
ANA = Incoming("telegram", "777", "777", "Ana", "")


def said(who: Incoming, words: str, chat: str | None = None) -> Incoming:
    return Incoming(
        who.platform, chat or who.chat_id, who.user_id, who.display_name, words, is_private=chat is None
    )


def _update(update_id: int, sender: str, words: str, quoting: dict[str, object] | None = None) -> str:
    message: dict[str, object] = {
        "message_id": update_id,
        "date": 0,
        "chat": {"id": -100, "type": "group"},
        "from": {"id": int(sender), "is_bot": False, "first_name": "someone"},
        "text": words,
    }
    if quoting is not None:
        message["reply_to_message"] = quoting
    return json.dumps({"update_id": update_id, "message": message})


async def _everything_stored(runtime: Runtime) -> str:
    """Every value of every row of every table, as one text to search."""

    def dump(conn: Connection) -> str:
        rows = []
        for table in inspect(conn).get_table_names():
            if table.startswith("search_fts"):
                continue  # FTS5's shadow tables hold the same terms as search_entries, tokenised
            rows += [repr(tuple(row)) for row in conn.execute(text(f"SELECT * FROM {table}"))]
        return "\n".join(rows)

    return await runtime.memory.run(dump)


async def _fill(runtime: Runtime) -> None:
    """Lin leaves a trace everywhere a person can; Ana, a little, to show she stays."""
    inbox = Inbox(runtime.memory)
    await inbox.claim(Delivery("telegram", "bot", "1", _update(1, LIN_ID, f"I live in {CANARY}.")))
    await runtime.pipeline.handle(said(LIN, f"My name is Lin and I live in {CANARY}."))
    await runtime.pipeline.handle(said(LIN, f"{CANARY} is lovely in spring.", chat="-100"))
    quoted = json.loads(_update(1, LIN_ID, f"I live in {CANARY}."))["message"]
    await inbox.claim(Delivery("telegram", "bot", "2", _update(2, "777", "Nice place!", quoting=quoted)))
    await runtime.pipeline.handle(said(ANA, "I have a dog named Rex."))
    await runtime.pipeline.keeper.drain()
    await runtime.memory.set_preference("telegram", LIN_ID, "character", "grimble")  # her private chat
    await runtime.memory.set_preference("telegram", LIN_ID, "voice", True, user_id=LIN_ID)
    card = runtime.characters.get("aiko")
    state = await runtime.memory.conversation(runtime.pipeline.key_for(said(LIN, ""), card), "Lin")
    await runtime.memory.add_summary(state, list(state.recent), f"Lin lives in {CANARY}.")
    photo = KeptPicture(f"photos/{CANARY}.jpg", "ab" * 32, 640, 480, f"JPEG {CANARY}".encode())
    await runtime.memory.keep_pictures(state, state.recent[0].id, [photo])
    evidence = tuple(m.id for m in state.recent if m.role == "user")
    source = Source("telegram", LIN_ID, "Lin", state.id)
    soul = runtime.soul
    await soul.propose(
        "aiko", Change("relationship", f"Lin and I joke about {CANARY}.", evidence, 0.9), source
    )
    await soul.approve(
        await soul.propose("aiko", Change("habit", "hums while thinking", evidence, 0.9), source), "cli:owner"
    )
    await soul.propose("aiko", Change("backstory", f"visited {CANARY} once", evidence, 0.9), source)
    audit = runtime.pipeline.safety.audit
    assert audit is not None
    verdict = Verdict("redact", "…", reason="an address", check="pii", category="pii")
    await audit.record(Where("telegram", LIN_ID, LIN_ID, "aiko"), "input", [(verdict, f"I live in {CANARY}")])


async def test_forget_leaves_no_trace_of_the_person_in_any_table(any_runtime: Runtime) -> None:
    await _fill(any_runtime)
    before = await _everything_stored(any_runtime)
    assert CANARY in before and LIN_ID in before

    await any_runtime.memory.forget_user("telegram", LIN_ID)

    after = await _everything_stored(any_runtime)
    assert CANARY not in after
    assert LIN_ID not in after
    assert "I have a dog named Rex." in after  # Ana is still known
    assert "Nice place!" in after  # and her event stays, without the quote of Lin
    assert "hums while thinking" in after  # shared growth stays, with nothing of whose it was
    report = await any_runtime.pipeline.safety.audit.report()  # type: ignore[union-attr]
    assert sum(row.count for row in report) == 1  # the decision still counts, about nobody


async def test_export_holds_everything_forget_deletes(any_runtime: Runtime) -> None:
    await _fill(any_runtime)
    data = await any_runtime.memory.export_user("telegram", LIN_ID)
    assert data is not None
    exported = json.dumps(data, ensure_ascii=False)
    assert data["conversations"][0]["messages"][0]["text"].endswith(f"{CANARY}.")
    assert any(CANARY in s["text"] for c in data["conversations"] for s in c["summaries"])
    assert {p["key"] for p in data["preferences"]} == {"character", "voice"}
    assert any(CANARY in r["text"] for r in data["relationships"] + data["soul_proposals"])
    assert {p["status"] for p in data["soul_proposals"]} == {"pending", "applied"}
    assert data["safety_decisions"][0]["check"] == "pii"
    assert [e["id"] for e in data["inbox"]] == ["1"]  # what she sent, not Ana's reply
    (picture,) = [p for c in data["conversations"] for p in c["pictures"]]
    assert picture["reference"] == f"photos/{CANARY}.jpg" and picture["width"] == 640
    assert base64.b64decode(picture["thumbnail_jpeg_base64"]) == f"JPEG {CANARY}".encode()
    assert exported.count(CANARY) >= 6


class HeldLLM(InstantLLM):
    """Says when it was asked, then answers only once `gate` opens."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = asyncio.Event()
        self.gate = asyncio.Event()

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        self.asked.set()
        async for piece in super().stream(request):
            yield piece


async def test_a_forget_racing_a_message_in_flight_leaves_nothing_behind(any_runtime: Runtime) -> None:
    llm = HeldLLM()  # the reply is being generated while Lin asks to be forgotten
    any_runtime.router.register("embedded", llm)
    turn = asyncio.create_task(any_runtime.pipeline.handle(said(LIN, f"My home is {CANARY}.")))
    await llm.asked.wait()  # her message is stored and the model is working
    forget = asyncio.create_task(any_runtime.memory.forget_user("telegram", LIN_ID))
    for _ in range(50):
        await asyncio.sleep(0)
    assert not forget.done()  # it waits for the turn in flight
    llm.gate.set()
    reply = await turn
    assert reply is not None and CANARY in reply.text  # the reply still went out
    assert await forget == 2  # her message and the reply, both forgotten
    await any_runtime.pipeline.keeper.drain()  # background work after the turn: nothing comes back
    assert CANARY not in await _everything_stored(any_runtime)


async def test_what_a_person_says_after_forget_is_stored_and_remembered(any_runtime: Runtime) -> None:
    """/forget, then talking on: the new conversation is kept (SQLite gives it the forgotten one's id)."""
    await any_runtime.pipeline.handle(said(LIN, "My home is the old town."))
    assert await any_runtime.memory.forget_user("telegram", LIN_ID) == 2
    await any_runtime.pipeline.handle(said(LIN, "Hello again, I am new here."))
    await any_runtime.pipeline.keeper.drain()
    key = ConversationKey("telegram", LIN_ID, LIN_ID, "aiko")
    restarted = await MemoryStore.open(any_runtime.settings.database_url)
    try:
        kept = [m.content for m in (await restarted.conversation(key, "Lin")).recent]
    finally:
        await restarted.close()
    assert "Hello again, I am new here." in kept and len(kept) == 2  # her message and its reply
    assert "My home is the old town." not in kept


async def test_answered_events_are_deleted_after_the_retention_period(any_runtime: Runtime) -> None:
    inbox = Inbox(any_runtime.memory)
    await inbox.claim(Delivery("telegram", "bot", "1", _update(1, LIN_ID, "old")))
    await inbox.answered("telegram", "bot", "1")
    await inbox.claim(Delivery("telegram", "bot", "2", _update(2, LIN_ID, "unanswered")))
    await any_runtime.memory.run(
        lambda conn: conn.execute(
            text("UPDATE inbox SET answered_at = :t WHERE delivery_id = '1'"),
            {"t": utcnow() - timedelta(days=3)},
        )
    )
    fresh = Inbox(any_runtime.memory)  # a new start: its first claim prunes
    await fresh.claim(Delivery("telegram", "bot", "3", _update(3, LIN_ID, "new")))
    stored = await _everything_stored(any_runtime)
    assert '"text": "old"' not in stored
    assert '"text": "unanswered"' in stored and '"text": "new"' in stored


async def test_a_message_after_another_process_forgot_the_person_is_not_stored(database_url: str) -> None:
    """`anima memory forget` while `anima run` serves the person: the server's late write finds the
    conversation gone, stores nothing and does not retry it forever."""
    server = await MemoryStore.open(database_url)
    cli = await MemoryStore.open(database_url)
    try:
        state = await server.conversation(ConversationKey("telegram", LIN_ID, LIN_ID, "aiko"), "Lin")
        await server.add(state, "user", "hello")
        await cli.forget_user("telegram", LIN_ID)
        late = await server.add(state, "user", f"I live in {CANARY}.")
        assert late.id == 0 and server.unsaved_count() == 0
        assert await server.export_user("telegram", LIN_ID) is None
    finally:
        await cli.close()
        await server.close()


async def test_forgetting_a_person_in_more_chats_than_lock_connections_finishes(any_runtime: Runtime) -> None:
    """On PostgreSQL each held conversation is an advisory lock: forget takes them on one connection,
    so a person in more chats than the lock pool has connections (32) is forgotten, not stuck."""
    for chat in range(40):
        key = ConversationKey("telegram", f"-{chat}", LIN_ID, "aiko")
        await any_runtime.memory.add(await any_runtime.memory.conversation(key, "Lin"), "user", "hi")
    async with asyncio.timeout(60):
        assert await any_runtime.memory.forget_user("telegram", LIN_ID) == 40
    await any_runtime.pipeline.handle(said(LIN, "back again"))  # the locks were all given back
