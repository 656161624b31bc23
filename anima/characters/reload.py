"""Hot reload: watch characters/ and reload the cards whose files change, while the bots keep running."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from anima.characters.library import CharacterLibrary

log = logging.getLogger(__name__)


class CardWatcher:
    """A background task that feeds file changes under the library's directory into `library.reload`."""

    def __init__(self, library: CharacterLibrary, debounce_ms: int = 300) -> None:
        self.library = library
        self.debounce_ms = debounce_ms
        self.reloads = 0  # batches of changes applied so far
        self.reloaded = asyncio.Condition()  # notified after every batch
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="anima-card-watcher")
        # awatch sets up its inotify watch synchronously in the task's first step: let that step run,
        # so an edit made right after start() returns is seen.
        await asyncio.sleep(0)

    async def _watch(self) -> None:
        from watchfiles import awatch  # loaded only where cards are reloaded (characters.reload)

        directory = self.library.directory
        async for changes in awatch(directory, stop_event=self._stop, debounce=self.debounce_ms, step=20):
            try:
                await self.library.reload(Path(path) for _, path in changes)
            except Exception:  # a bug in reloading must not end hot reload for the rest of the run
                log.exception("reloading cards after a change in %s failed", directory)
            async with self.reloaded:
                self.reloads += 1
                self.reloaded.notify_all()

    async def wait_until(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
        """Wait until `predicate()` holds after a reload (for tests and tools); TimeoutError otherwise."""
        async with self.reloaded:
            await asyncio.wait_for(self.reloaded.wait_for(predicate), timeout_s)

    async def stop(self) -> None:
        """Stop watching; returns within about one watch step (20 ms)."""
        if self._task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(self._task, 5)  # cancels the task if it does not end in time
        except TimeoutError:
            log.warning("the card watcher did not stop in time and was cancelled")
        except Exception:
            log.exception("the card watcher had stopped with an error")
        finally:
            self._task = None
