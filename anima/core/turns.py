"""Replies in flight: a shutdown waits for them, and cuts the ones still generating when its grace ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from anima.errors import LLMError

T = TypeVar("T")


class ReplyCut(LLMError):
    """The generation was stopped by a shutdown; the pipeline keeps what arrived, marked as cut."""


class TurnsInFlight:
    """Counts the turns the pipeline is answering; `cut()` stops their generations now.

    A cut generation raises ReplyCut inside the pipeline, which finishes the turn as for a broken
    stream: the text so far is stored and delivered with `cut=True`, the user's message stays stored.
    """

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._cutting = False
        self._generating: set[asyncio.Future[Any]] = set()

    @asynccontextmanager
    async def track(self) -> AsyncIterator[None]:
        """Held for the whole of one turn, from its arrival (also while it waits for its conversation)."""
        self.count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self.count -= 1
            if self.count == 0:
                self._idle.set()

    async def idle(self) -> None:
        """Return once no turn is in flight."""
        await self._idle.wait()

    @property
    def cutting(self) -> bool:
        return self._cutting

    def cut(self) -> None:
        """Stop every generation now, and any that starts later (the process is going away)."""
        self._cutting = True
        for generation in self._generating:
            generation.cancel()

    async def unless_cut(self, generation: Coroutine[Any, Any, T]) -> T:
        """Await `generation`; raise ReplyCut if `cut()` stops it first."""
        if self._cutting:
            generation.close()
            raise ReplyCut("the reply was cut off by a shutdown")
        task = asyncio.ensure_future(generation)
        self._generating.add(task)
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self._cutting and task.cancelled() and not (current and current.cancelling()):
                raise ReplyCut("the reply was cut off by a shutdown") from None
            raise
        finally:
            self._generating.discard(task)
