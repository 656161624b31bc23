"""What a platform shows while a reply is generated, by rating (safety.stream).

- "checked" (default): text goes out in pieces that end at a safe point (a space not inside a number,
  a punctuation mark), each after the output checks passed a window holding the whole piece and the
  `OVERLAP` characters before it, so nothing reaches a platform that the checks have not seen whole,
  and a canary, an address or a prompt span cut across two pieces is still seen in one window. A
  piece is at most `max_piece` characters (unless one word is longer): a big delta from the server
  is split, never released whole. From the first piece the checks refuse, nothing more streams.
  The checks run at most every `interval_s` (or every `max_held` characters), so their cost is
  bounded by time, not by the number of pieces: what is held when they run (up to `max_window`
  characters of it) is checked as one window and then released in pieces, rather than each piece
  checked again with its overlap; and never before the platform could show the text
  (a stream with `shows_at`, as an edited reply paced per chat has): checking text earlier would
  only check it again, in more windows, before anyone saw it. A reply that ends before then is
  checked once, whole, as the final reply. A check that is due runs on the event loop's next turn
  (its own task), not inside the delta that made it due: the pieces already read behind that delta
  (a busy bot reads many at once) join its window, and when they end the reply, the final check
  alone sees it.
- "final": nothing streams; the platform shows its typing indicator, then the checked reply.
- "raw": every piece streams as it comes; unchecked text is visible until the final reply replaces it.

In every mode the final, fully checked reply replaces the draft: `ReplyStream.finish` is authoritative
on every platform, and it is also the text that is stored.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from anima.core.messages import Reply, ReplyStream

StreamMode = Literal["checked", "final", "raw"]
OVERLAP = 400  # characters of released text each window repeats before the new piece
MAX_WINDOW = 1600  # new characters checked in one window at most (a 150-word reply is ~900)
# After punctuation, at a newline, or at a space that does not sit inside a number ("+44 20 7946 …").
_SAFE_POINT = re.compile(r"[.!?…,;:]+\s+|[。！？；，、]+\s*|\n+|(?<!\d)\s+|\s+(?=[^\d\s])")


@dataclass(eq=False, repr=False)  # a stream: compared and shown as itself
class CheckedStream:
    """Passes text on up to a safe point, and only while `passes(window)` says yes for every piece."""

    inner: ReplyStream
    passes: Callable[[str], Awaitable[bool]]
    interval_s: float = 0.25
    max_held: int = 200
    max_piece: int = 200
    max_window: int = MAX_WINDOW  # raised to max_piece if below it
    stopped: bool = field(default=False, init=False)
    _held: str = field(default="", init=False)
    # the last OVERLAP characters released, the start of the next window
    _shown: str = field(default="", init=False)
    _released: list[str] = field(default_factory=list, init=False)
    _next_at: float | None = field(default=None, init=False)  # set by the first piece: it waits too
    # When the platform can next show text (loop time), if the stream behind says so.
    _shows_at: Callable[[], float] | None = field(default=None, init=False)
    _check: asyncio.Task[None] | None = field(default=None, init=False)  # due, run on the loop's next turn
    _checking: bool = field(default=False, init=False)  # it has begun: finish waits for it (else drops it)

    def __post_init__(self) -> None:
        self.max_window = max(self.max_window, self.max_piece)
        self._shows_at = getattr(self.inner, "shows_at", None)

    async def delta(self, text: str) -> None:
        if self.stopped:
            return
        self._held += text
        if self._check is not None:
            if not self._check.done():
                return  # the check to come reads this too
            self._check.result()  # a check that failed raises here, as it did inside delta
        now = asyncio.get_running_loop().time()
        if self._next_at is None:
            self._next_at = now + self.interval_s
        if now < self._next_at and len(self._held) < self.max_held:
            return
        if self._shows_at is not None and now < self._shows_at():
            return
        self._next_at = now + self.interval_s
        self._check = asyncio.create_task(self._check_held())

    async def _check_held(self) -> None:
        """What is held now, up to its last safe point, checked in windows and released."""
        self._checking = True
        try:
            end = _last_safe_point(self._held)
            while end and not self.stopped:
                checked = self._cut(min(end, self.max_window))
                await self._release(self._held[:checked])
                # only this task takes text off the front; deltas meanwhile add to its end
                self._held, end = self._held[checked:], end - checked
        finally:
            self._checking = False

    async def caught_up(self) -> None:
        """Wait until the check that is due (if any) has run and released what passed."""
        if self._check is not None:
            await self._check

    def _cut(self, limit: int) -> int:
        """Where the held text's first part ends: at its last safe point within `limit` characters,
        else (one word longer than that) at its first."""
        return _last_safe_point(self._held[:limit]) or _first_safe_point(self._held)

    async def _release(self, text: str) -> None:
        """`text` checked as one window (with the overlap before it), then shown in pieces."""
        window = self._shown + text
        if not await self.passes(window):
            self.stopped = True
            return
        self._shown = window[-OVERLAP:]
        while text:
            piece = text[: _last_safe_point(text[: self.max_piece]) or _first_safe_point(text) or len(text)]
            self._released.append(piece)
            await self.inner.delta(piece)
            text = text[len(piece) :]

    async def finish(self, reply: Reply) -> None:
        """The held tail goes out first when the checked reply is exactly what streamed, so a draft that
        needed no change ends complete; otherwise the final reply replaces the draft. A check begun
        ends first; one not begun is dropped (the final reply was checked whole)."""
        if self._check is not None:
            if self._checking or self._check.done():
                await self._check
            else:
                self._check.cancel()
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


def _first_safe_point(text: str) -> int:
    match = _SAFE_POINT.search(text)
    return match.end() if match else 0


def _last_safe_point(text: str) -> int:
    end = 0
    for match in _SAFE_POINT.finditer(text):
        end = match.end()
    return end
