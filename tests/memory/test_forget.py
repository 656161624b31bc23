"""The user's data on SQLite and PostgreSQL: /forget leaves nothing behind; export shows everything."""

from __future__ import annotations

from sqlalchemy import Connection, text

from anima.app import Runtime
from anima.core.messages import ConversationKey, Incoming
from tests.fakes.llm import InstantLLM

LIN = Incoming("test", "dm", "lin", "Lin", "")
ANA = Incoming("test", "dm", "ana", "Ana", "")


def _as(who: Incoming, text: str, chat: str = "dm") -> Incoming:
    return Incoming(who.platform, chat, who.user_id, who.display_name, text)


async def _rows_about(runtime: Runtime, user_id: str) -> dict[str, int]:
    """Every row that could hold something of the user's, per table (full-text index included)."""

    def count(conn: Connection) -> dict[str, int]:
        conversations = (
            "SELECT c.id FROM conversations c JOIN users u ON u.id = c.user_id WHERE u.platform_user_id = :u"
        )
        counts = {
            table: conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE conversation_id IN ({conversations})"),
                {"u": user_id},
            ).scalar_one()
            for table in ("messages", "summaries", "facts", "search_entries")
        }
        counts["users"] = conn.execute(
            text("SELECT count(*) FROM users WHERE platform_user_id = :u"), {"u": user_id}
        ).scalar_one()
        counts["preferences"] = conn.execute(
            text("SELECT count(*) FROM preferences WHERE user_id = :u"), {"u": user_id}
        ).scalar_one()
        if conn.dialect.name == "sqlite":  # the FTS5 index proper: one docsize row per indexed entry
            total = conn.execute(text("SELECT count(*) FROM search_fts_docsize")).scalar_one()
            entries = conn.execute(text("SELECT count(*) FROM search_entries")).scalar_one()
            counts["fts_rows_without_entry"] = total - entries
            counts["fts_matches"] = conn.execute(
                text("SELECT count(*) FROM search_fts WHERE search_fts MATCH 'momo'")
            ).scalar_one()
        return counts

    return await runtime.memory.run(count)


async def _fill(runtime: Runtime) -> None:
    await runtime.pipeline.handle(_as(LIN, "My name is Lin and I have a cat named Momo."))
    await runtime.pipeline.handle(_as(LIN, "I live in Paris."))
    await runtime.pipeline.handle(_as(LIN, "Momo loves the balcony.", chat="group"))
    await runtime.pipeline.handle(_as(ANA, "I have a dog named Rex."))
    await runtime.pipeline.keeper.drain()
    await runtime.memory.set_preference("test", "dm", "voice", True, user_id="lin")
    card = runtime.characters.get("aiko")
    state = await runtime.memory.conversation(runtime.pipeline.key_for(LIN, card), "Lin")
    messages = [m for m in state.recent][:2]
    await runtime.memory.add_summary(state, messages, "Lin told Aiko about Momo, her cat.")


async def test_forget_leaves_nothing_of_the_user_on_any_table(any_runtime: Runtime) -> None:
    await _fill(any_runtime)
    before = await _rows_about(any_runtime, "lin")
    assert before["messages"] == 6 and before["facts"] >= 2 and before["summaries"] == 1

    deleted = await any_runtime.memory.forget_user("test", "lin")

    assert deleted == 6
    assert set((await _rows_about(any_runtime, "lin")).values()) == {0}


async def test_forget_keeps_everyone_elses_memories(any_runtime: Runtime) -> None:
    await _fill(any_runtime)
    await any_runtime.memory.forget_user("test", "lin")
    after = await _rows_about(any_runtime, "ana")
    assert after["messages"] == 2 and after["facts"] == 1 and after["search_entries"] == 3


async def test_a_forgotten_user_is_not_recalled_after_coming_back(
    any_runtime: Runtime, instant_llm: InstantLLM
) -> None:
    await _fill(any_runtime)
    await any_runtime.memory.forget_user("test", "lin")
    for i in range(20):
        await any_runtime.pipeline.handle(_as(LIN, f"hello again, day {i}"))
    await any_runtime.pipeline.handle(_as(LIN, "What is my cat called?"))
    assert not any("Momo" in m.content for m in instant_llm.requests[-1].messages)


async def test_export_holds_messages_facts_summaries_and_preferences(any_runtime: Runtime) -> None:
    await _fill(any_runtime)
    exported = await any_runtime.memory.export_user("test", "lin")
    assert exported is not None
    assert exported["display_name"] == "Lin"
    chats = {c["chat_id"]: c for c in exported["conversations"]}
    assert [m["text"] for m in chats["dm"]["messages"] if m["role"] == "user"] == [
        "My name is Lin and I have a cat named Momo.",
        "I live in Paris.",
    ]
    assert {f["fact"] for f in chats["dm"]["facts"]} >= {
        "is called Lin",
        "has a cat named Momo",
        "lives in Paris",
    }
    assert chats["dm"]["summaries"][0]["text"] == "Lin told Aiko about Momo, her cat."
    assert exported["preferences"] == [{"chat_id": "dm", "key": "voice", "value": True}]
    assert await any_runtime.memory.export_user("test", "nobody") is None


async def test_memory_view_shows_facts_and_the_newest_summary(any_runtime: Runtime) -> None:
    await _fill(any_runtime)
    view = await any_runtime.memory.view(ConversationKey("test", "dm", "lin", "aiko"), "Lin")
    assert view.facts[0].content == "is called Lin"  # the most important first
    assert {f.content for f in view.facts} >= {"has a cat named Momo", "lives in Paris"}
    assert view.summary == "Lin told Aiko about Momo, her cat."
    assert (view.total_messages, view.in_history) == (4, 4)
