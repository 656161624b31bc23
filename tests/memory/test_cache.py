"""The per-conversation cache is an LRU bounded in count and in bytes; what it drops comes back from disk."""

from __future__ import annotations

from pathlib import Path

from anima.core.messages import ConversationKey
from anima.memory.store import MemoryStore


def key(n: int) -> ConversationKey:
    return ConversationKey("test", f"chat{n}", f"user{n}", "aiko")


async def test_many_conversations_keep_only_the_most_recent_cached(tmp_path: Path) -> None:
    store = await MemoryStore.open(f"sqlite:///{tmp_path}/anima.db", cache_conversations=10)
    try:
        for n in range(100):
            state = await store.conversation(key(n), f"User {n}")
            await store.add(state, "user", f"I am user {n}.")
        count, _ = store.cached()
        assert count == 10
        back = await store.conversation(key(3), "User 3")  # long gone from the cache: read again
        assert [m.content for m in back.recent] == ["I am user 3."]
        assert store.cached()[0] == 10
    finally:
        await store.close()


async def test_large_messages_keep_the_cache_under_its_byte_bound(tmp_path: Path) -> None:
    bound = 2 * 1024 * 1024
    store = await MemoryStore.open(f"sqlite:///{tmp_path}/anima.db", cache_bytes=bound)
    try:
        for n in range(40):  # 40 conversations of 100 KB pastes: ~8 MB, four times the bound
            state = await store.conversation(key(n), f"User {n}")
            await store.add(state, "user", "x" * 100_000)
        count, size = store.cached()
        assert size <= bound and count < 40
        assert count >= 5  # the newest ones stay
        newest = await store.conversation(key(39), "User 39")
        assert len(newest.recent[-1].content) == 100_000
    finally:
        await store.close()


async def test_the_recently_used_conversation_survives_eviction(tmp_path: Path) -> None:
    store = await MemoryStore.open(f"sqlite:///{tmp_path}/anima.db", cache_conversations=3)
    try:
        first = await store.conversation(key(0), "User 0")
        for n in range(1, 10):
            await store.conversation(key(n), f"User {n}")
            assert await store.conversation(key(0), "User 0") is first  # touched each time: kept
    finally:
        await store.close()
