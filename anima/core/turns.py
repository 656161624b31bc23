"""Replies in flight: a shutdown waits for them, and cuts the ones still generating when its grace ends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from anima.core.messages import OnPiece
from anima.errors import ReplyCut

T = TypeVar("T")


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
        self._generating: set[asyncio.Task[Any]] = set()  # turns awaiting a generation now
        self._cut: set[asyncio.Task[Any]] = set()  # those that cut() cancelled
        self._delivering: set[asyncio.Task[Any]] = set()  # those passing a piece to the platform now

    def track(self) -> TurnsInFlight:
        """`async with turns.track():` around the whole of one turn, from its arrival (also while it
        waits for its conversation). A plain context manager: a generator-based one costs more."""
        return self

    async def __aenter__(self) -> None:
        self.count += 1
        self._idle.clear()

    async def __aexit__(self, *_: object) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def idle(self) -> None:
        """Return once no turn is in flight."""
        await self._idle.wait()

    def cut(self) -> None:
        """Stop every generation now (one delivering a piece, right after it), and any that starts
        later (the process is going away)."""
        self._cutting = True
        for task in self._generating:
            self._cut.add(task)
            if task not in self._delivering:
                task.cancel()

    async def unless_cut(self, generate: Callable[[OnPiece], Coroutine[Any, Any, T]], on_piece: OnPiece) -> T:
        """Await `generate(on_piece)`; raise ReplyCut if `cut()` stops it first. A cut lands between
        two pieces, never while `on_piece` delivers one to the platform."""
        if self._cutting:
            raise ReplyCut("the reply was cut off by a shutdown")
        # The turn's own task is cancelled (not a task made per generation: that costs ~0.1 ms a
        # turn); the cancellation lands inside the generation and is taken back here.
        task = asyncio.current_task()
        assert task is not None

        async def delivering(piece: str) -> None:
            self._delivering.add(task)
            try:
                await on_piece(piece)
            finally:
                self._delivering.discard(task)
            if task in self._cut and not task.cancelling():  # cut() came while it was delivered
                task.cancel()

        self._generating.add(task)
        try:
            return await generate(delivering)
        except asyncio.CancelledError:
            if task in self._cut and task.uncancel() == 0:  # cancelled by cut() alone
                raise ReplyCut("the reply was cut off by a shutdown") from None
            raise
        finally:
            self._generating.discard(task)
            self._cut.discard(task)
