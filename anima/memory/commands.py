"""`anima memory export USER` and `anima memory forget USER`: the user's data, from the command line."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from anima.core.ordering import ConversationLocks
from anima.errors import AnimaError
from anima.memory.database import shown_url
from anima.memory.locks import AdvisoryLocks
from anima.memory.store import MemoryStore


async def export(database_url: str, user: str, platform: str | None, output: Path | None) -> int:
    """Write everything kept about `user` (on one platform or all) as JSON."""
    store = await MemoryStore.open(database_url)
    try:
        found = await _with_linked(store, await store.users(user, platform))
        if not found:
            raise AnimaError(f"no user {user!r}{_on(platform)} in {shown_url(database_url)}")
        data = [await store.export_user(p, u) for p, u in found]
    finally:
        await store.close()
    text = json.dumps(data[0] if len(data) == 1 else data, ensure_ascii=False, indent=2)
    if output is None:
        sys.stdout.write(text + "\n")
    else:
        await asyncio.to_thread(output.write_text, text + "\n", encoding="utf-8")
        print(f"{output}: {sum(len(c['messages']) for d in data if d for c in d['conversations'])} messages")
    return 0


async def forget(database_url: str, user: str, platform: str | None) -> int:
    """Delete everything kept about `user` (anima/memory/forget.py says what), holding their conversations."""
    store = await MemoryStore.open(database_url)
    shared = AdvisoryLocks(database_url) if store.database.dialect == "postgresql" else None
    if shared is not None:  # `anima run` may be answering them right now: wait for those turns
        store.locks = ConversationLocks(shared)
    try:
        found = await _with_linked(store, await store.users(user, platform))
        if not found:
            raise AnimaError(f"no user {user!r}{_on(platform)} in {shown_url(database_url)}")
        for where, who in found:
            deleted = await store.forget_user(where, who)
            print(f"forgot {who} on {where}: {deleted} messages and everything learned from them")
    finally:
        if shared is not None:
            await shared.close()
        await store.close()
    return 0


async def _with_linked(store: MemoryStore, found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The accounts found, and those their person linked with /link: forget and export cover all."""
    every = list(found)
    for account in found:
        every += [a for a in await store.linked(account) if a not in every]
    return every


def _on(platform: str | None) -> str:
    return f" on {platform}" if platform else ""


async def share(database_url: str, user: str, platform: str, shared: bool) -> int:
    """Let what characters learned with `user` in private (relationship lines) reach their groups, or not."""
    store = await MemoryStore.open(database_url)
    try:
        await store.set_shares_private(platform, user, shared)
    finally:
        await store.close()
    where = "in their groups too" if shared else "in private chats only"
    print(f"{user} on {platform}: what characters learned with them in private now shows {where}")
    return 0
