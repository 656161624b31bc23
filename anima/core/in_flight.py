"""What an adapter has in flight (a message being answered, a backlog being read back), kept so that
its stop can wait for it, within a bound, and then cancel what is still running."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


class InFlight:
    """The tasks one adapter runs its platform's events in, each kept until it is done."""

    def __init__(self, name: str) -> None:
        self.name = name  # the adapter's, for the log
        self._tasks: set[asyncio.Task[Any]] = set()

    def track(self, task: asyncio.Task[Any] | None = None) -> None:
        """Keep `task` (by default the one running now) until it is done."""
        task = task or asyncio.current_task()
        if task is None:
            raise RuntimeError("InFlight.track outside a task: pass the task to keep")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def finish(self, within_s: float) -> None:
        """Wait up to `within_s` for everything in flight to end; cancel, and say, what is later."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=within_s)
        for task in late:
            log.warning("%s: a reply did not finish within %.0f s of stopping", self.name, within_s)
            task.cancel()
