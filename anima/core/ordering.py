"""Strict order within a conversation, concurrency across conversations; across processes too.

In one process, each conversation has a FIFO asyncio lock. When several processes serve one
database (several `anima run` on one PostgreSQL), a `SharedLocks` (PostgreSQL advisory locks, in
`anima.memory.locks`) is taken behind it, so a turn also waits for the other processes' turns.
The in-process lock stays in front: a process then asks the database for a conversation's lock
once at a time and in arrival order, instead of parking a connection per waiting message.

The lock is not re-entrant: the conversation service (anima.core.conversations) takes it once
around "claim the delivery, answer it, mark it answered", and `Pipeline.reply` inside takes none.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager, nullcontext
from typing import Protocol


class SharedLocks(Protocol):
    """Named locks every process on one database sees; released when their holder dies."""

    def hold(self, name: str) -> AbstractAsyncContextManager[None]: ...

    def hold_many(self, names: Sequence[str]) -> AbstractAsyncContextManager[None]: ...

    async def close(self) -> None: ...


class ConversationLocks:
    """One FIFO lock per conversation key, dropped when nobody holds or waits for it."""

    def __init__(self, shared: SharedLocks | None = None) -> None:
        self.shared = shared
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._users: dict[Hashable, int] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable, shared: bool = True) -> AsyncIterator[None]:
        """Hold one conversation (`shared`: behind the other processes' lock too, when there is one)."""
        lock = self._locks.setdefault(key, asyncio.Lock())  # asyncio.Lock wakes waiters in FIFO order
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock, self._shared(key) if shared else nullcontext():
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]

    def _shared(self, key: Hashable) -> AbstractAsyncContextManager[None]:
        return self.shared.hold(repr(key)) if self.shared is not None else nullcontext()

    @asynccontextmanager
    async def hold_all(self, keys: Iterable[Hashable]) -> AsyncIterator[None]:
        """Hold several conversations at once (forgetting a person holds all of theirs). Taken in one
        order, so two callers never wait on each other; a turn holds only one, so it never waits on
        this. The other processes' locks are taken on one connection, however many there are."""
        fresh = sorted(set(keys), key=repr)
        async with AsyncExitStack() as stack:
            for key in fresh:
                await stack.enter_async_context(self.hold(key, shared=False))
            if self.shared is not None and fresh:
                await stack.enter_async_context(self.shared.hold_many([repr(k) for k in fresh]))
            yield

    def keys(self) -> list[Hashable]:
        """The conversations held or waited for now."""
        return list(self._locks)

    @property
    def in_flight(self) -> int:
        """Turns holding or waiting for a conversation's lock."""
        return sum(self._users.values())

    def __len__(self) -> int:
        return len(self._locks)
