"""What a platform shows while a reply is generated, by rating (safety.stream).

- "checked" (default): text goes out in pieces that end at a safe point (a space not inside a number,
  a punctuation mark), each after the local output checks passed the newest text; from the first
  piece they flag, nothing more streams. The checks run at most every `interval_s` (or every
  `max_held` characters), so their cost is bounded by time, not by the number of pieces.
- "final": nothing streams; the platform shows its typing indicator, then the checked reply.
- "raw": every piece streams as it comes; unchecked text is visible until the final reply replaces it.

In every mode the final, fully checked reply replaces the draft: `ReplyStream.finish` is authoritative
on every platform, and it is also the text that is stored.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Literal

from anima.core.messages import Reply, ReplyStream

StreamMode = Literal["checked", "final", "raw"]
WINDOW = 160  # characters of released text the checks see with each new piece
# After punctuation, at a newline, or at a space that does not sit inside a number ("+44 20 7946 …").
_SAFE_POINT = re.compile(r"[.!?…,;:]+\s+|[。！？；，、]+\s*|\n+|(?<!\d)\s+|\s+(?=[^\d\s])")


class CheckedStream:
    """Passes text on up to a safe point, and only while `passes(newest text)` says yes."""

    def __init__(
        self,
        inner: ReplyStream,
        passes: Callable[[str], Awaitable[bool]],
        interval_s: float = 0.25,
        max_held: int = 200,
    ) -> None:
        self.inner = inner
        self.passes = passes
        self.interval_s = interval_s
        self.max_held = max_held
        self.stopped = False
        self._held = ""
        self._shown = ""  # the newest released text, for the checks' window
        self._released: list[str] = []
        self._next_at: float | None = None  # set by the first piece: it waits one interval too

    async def delta(self, text: str) -> None:
        if self.stopped:
            return
        self._held += text
        now = asyncio.get_running_loop().time()
        if self._next_at is None:
            self._next_at = now + self.interval_s
        if now < self._next_at and len(self._held) < self.max_held:
            return
        cut = _last_safe_point(self._held)
        if cut == 0:
            return
        ready, self._held = self._held[:cut], self._held[cut:]
        self._next_at = now + self.interval_s
        if not await self.passes((self._shown + ready)[-WINDOW:]):
            self.stopped = True
            return
        self._shown = (self._shown + ready)[-WINDOW:]
        self._released.append(ready)
        await self.inner.delta(ready)

    async def finish(self, reply: Reply) -> None:
        """The held tail goes out first when the checked reply is exactly what streamed, so a draft that
        needed no change ends complete; otherwise the final reply replaces the draft."""
        if not self.stopped and self._held and "".join(self._released) + self._held.strip() == reply.text:
            await self.inner.delta(self._held)
        await self.inner.finish(reply)


class SilentStream:
    """Shows nothing until the final reply."""

    def __init__(self, inner: ReplyStream) -> None:
        self.inner = inner

    async def delta(self, text: str) -> None:
        return None

    async def finish(self, reply: Reply) -> None:
        await self.inner.finish(reply)


def _last_safe_point(text: str) -> int:
    end = 0
    for match in _SAFE_POINT.finditer(text):
        end = match.end()
    return end
