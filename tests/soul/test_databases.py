"""The soul store on SQLite and on PostgreSQL: versions, rollback and /forget behave the same."""

from __future__ import annotations

from anima.core.messages import ConversationKey
from anima.memory.store import MemoryStore
from anima.soul import SoulStore, Source
from anima.soul.changes import Change
from tests.memory.conftest import database_url, postgres  # noqa: F401  (fixtures: both databases)


async def test_versions_rollback_and_forget_on_each_database(database_url: str) -> None:  # noqa: F811
    memory = await MemoryStore.open(database_url)
    try:
        state = await memory.conversation(ConversationKey("test", "dm", "lin", "aiko"), "Lin")
        said = await memory.add(state, "user", "Your umbrella broke at the festival!")
        soul, lin = SoulStore(memory), Source("test", "lin", "Lin", state.id)
        for kind, text in (("backstory", "sang at the festival"), ("relationship", "Lin and I joke")):
            proposal = await soul.propose("aiko", Change(kind, text, (said.id,), 0.9), lin)  # type: ignore[arg-type]
            await soul.approve(proposal, "cli:owner")
        await soul.rollback("aiko", 1, "cli:owner")
        at_one = [e.text for e in await soul.entries("aiko")]
        await soul.rollback("aiko", 2, "cli:owner")
        at_two = [e.text for e in await soul.entries("aiko")]
        [evidence] = await soul.evidence((await soul.proposals("aiko", status="applied"))[0])
        await memory.forget_user("test", "lin")
        after_forget = [e.text for e in await soul.entries("aiko", 2)]
    finally:
        await memory.close()

    assert (at_one, at_two) == (["sang at the festival"], ["sang at the festival", "Lin and I joke"])
    assert evidence.content == "Your umbrella broke at the festival!"
    assert after_forget == ["sang at the festival"]
