"""Which updates a bot has handled, so a redelivered update is not answered twice.

Telegram delivers at least once: an update comes again after a restart unless a later getUpdates
confirmed it. PTB confirms when it fetches the next batch, so after a crash the last batch returns,
some of it already answered. The ledger skips repeats in memory and keeps, in the store, the id
below which everything was handled (saved at most once a second). Telegram keeps updates for 24 h
and may restart ids after a quiet week, so a mark older than a day is ignored.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from datetime import UTC, datetime, timedelta

from anima.memory.store import MemoryStore

log = logging.getLogger(__name__)

MARK_KEY = "handled_update_id"
MARK_VALID_FOR = timedelta(hours=24)


class UpdateLedger:
    def __init__(self, memory: MemoryStore, bot_id: int, remember: int = 4096) -> None:
        self.memory = memory
        self.scope = f"bot:{bot_id}"  # stored as a preference of this pseudo-chat
        self._seen: set[int] = set()
        self._order: deque[int] = deque()
        self._remember = remember
        self._in_flight: set[int] = set()
        self._floor = 0  # everything at or below was handled before the last restart
        self._max_done = 0
        self._saved = 0
        self._stop = asyncio.Event()
        self._saver: asyncio.Task[None] | None = None

    async def open(self) -> None:
        stored = await self.memory.get_preference("telegram", self.scope, MARK_KEY)
        if stored and datetime.now(UTC) - datetime.fromisoformat(stored["at"]) < MARK_VALID_FOR:
            self._floor = self._saved = self._max_done = int(stored["update_id"])
        self._saver = asyncio.create_task(self._save_every_second())

    async def close(self) -> None:
        self._stop.set()
        if self._saver:
            await self._saver
        await self._save()

    def begin(self, update_id: int) -> bool:
        """True for an update seen for the first time; False for a repeat, which must be skipped."""
        if update_id <= self._floor or update_id in self._seen:
            return False
        self._seen.add(update_id)
        self._order.append(update_id)
        if len(self._order) > self._remember:
            self._seen.discard(self._order.popleft())
        self._in_flight.add(update_id)
        return True

    def done(self, update_id: int) -> None:
        self._in_flight.discard(update_id)
        self._max_done = max(self._max_done, update_id)

    @property
    def handled_through(self) -> int:
        """The highest id at or below which every update is done (PTB starts updates in order)."""
        return min(self._in_flight) - 1 if self._in_flight else self._max_done

    async def _save(self) -> None:
        mark = self.handled_through
        if mark > self._saved:
            value = {"update_id": mark, "at": datetime.now(UTC).isoformat()}
            await self.memory.set_preference("telegram", self.scope, MARK_KEY, value)
            self._saved = mark

    async def _save_every_second(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), 1.0)
            except TimeoutError:
                try:
                    await self._save()
                except Exception:  # the next second tries again
                    log.exception("could not save the handled-update mark")
