"""Showing a reply as it grows, on any platform that can edit what it sent: written once here, the
platform gives only its three calls (`Posts`: post, edit, delete) and how its messages are cut.

Intermediate edits are best effort: at most one in flight, skipped while the chat's edit slot is
taken (`EditPacer`, one per chat and shared by every reply streaming into it), and they show the
newest text when they run. The final text is always delivered, with the platform's full retries.
After a crash, `PartialReplies` knows which messages a reply had shown, so that the full reply,
answered again at the next start, replaces that fragment instead of following it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from anima.core.messages import Reply
from anima.errors import MemoryStoreError
from anima.memory.store import MemoryStore

log = logging.getLogger(__name__)
Sent = TypeVar("Sent")  # what a platform returns for a posted message (an id, a message object)
MAX_PACED_CHATS = 10_000


class Posts(Protocol[Sent]):
    """One chat's messages, as a streamed reply uses them. `final`: the call is the reply's last
    word (intermediate calls may be given a single try: the final text follows anyway)."""

    def pieces(self, text: str) -> list[str]:
        """`text` as the platform's messages: rendered (mentions defused, a name in front), split."""
        ...

    def render(self, reply: Reply) -> str:
        """The final text: the reply with what the person should know about it (its notices)."""
        ...

    async def post(self, text: str, first: bool, final: bool) -> Sent: ...

    async def edit(self, sent: Sent, text: str, final: bool) -> Sent:
        """Make `sent` read `text`; returns what now shows it (a message posted again if it was deleted)."""
        ...

    async def delete(self, sent: Sent) -> None: ...


@asynccontextmanager
async def showing_while(
    show: Callable[[], Awaitable[None]], every_s: float, grace_s: float = 0.0
) -> AsyncIterator[None]:
    """Call `show` ("typing…") from `grace_s` on and every `every_s` while the body runs. Until the
    grace ends it is a timer, not a task: most of the cost of a fast reply. A failed call is logged."""
    task: asyncio.Task[None] | None = None

    async def keep_showing() -> None:
        while True:
            try:
                await show()
            except Exception as exc:  # an indicator is worth nothing late: never retried
                log.info("a chat action failed: %s", type(exc).__name__)
            await asyncio.sleep(every_s)  # a cadence, not a wait for an event

    def start() -> None:
        nonlocal task
        task = asyncio.create_task(keep_showing())

    timer = asyncio.get_running_loop().call_later(grace_s, start)
    try:
        yield
    finally:
        timer.cancel()
        if task is not None:
            task.cancel()  # one still in flight is worth nothing now


class EditPacer:
    """At most one edit per `interval` per chat, shared by every reply streaming into that chat."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next: dict[Hashable, float] = {}

    def try_take(self, chat: Hashable) -> bool:
        """Take the chat's next edit slot if it is free now (intermediate edits skip, never wait)."""
        now = asyncio.get_running_loop().time()
        if self._next.get(chat, 0.0) > now:
            return False
        self._reserve(chat, now)
        return True

    async def take(self, chat: Hashable) -> None:
        """Wait for the chat's next edit slot (a reply's final edit must happen, so it waits)."""
        now = asyncio.get_running_loop().time()
        at = max(now, self._next.get(chat, 0.0))
        self._reserve(chat, at)
        if at > now:
            await asyncio.sleep(at - now)

    def free_at(self, chat: Hashable) -> float:
        """When the chat's next edit slot is free (loop time; in the past when it is free now)."""
        return self._next.get(chat, 0.0)

    def _reserve(self, chat: Hashable, at: float) -> None:
        if len(self._next) > MAX_PACED_CHATS:  # forget chats whose slot is long free
            self._next = {c: t for c, t in self._next.items() if t > at}
        self._next[chat] = at + self.interval


class PartialReplies:
    """The messages a streaming reply has shown so far, per chat and person (their replies come one
    at a time), stored when streaming adds a message: one write per streamed reply, usually."""

    def __init__(self, memory: MemoryStore, platform: str, bot_id: str) -> None:
        self.memory = memory
        self.platform = platform
        self.key = f"streaming:{bot_id}"  # several bots can share a private chat id

    def recorder(self, chat_id: str, user_id: str, update_id: int) -> Callable[[list[int]], Awaitable[None]]:
        async def record(message_ids: list[int]) -> None:
            value = {"update": update_id, "messages": message_ids}
            try:
                await self.memory.set_preference(self.platform, chat_id, self.key, value, user_id)
            except MemoryStoreError as exc:  # costs only a fragment left in the chat after a crash
                log.warning("could not remember a streaming reply's messages: %s", exc)

        return record

    async def stream(
        self, posts: Posts[int], pacer: EditPacer, chat_id: str, user_id: str, update_id: int, resumed: bool
    ) -> EditedReply[int]:
        """The reply to `update_id` streaming into the chat, its messages remembered as streaming adds
        them; `resumed` (received before a crash): it takes over the fragment it had shown. The first
        message waits one edit interval (a reply that is done sooner goes out once, whole)."""
        stream = EditedReply(
            posts, pacer, chat_id, pacer.interval, self.recorder(chat_id, user_id, update_id)
        )
        if resumed:
            shown = await self.shown(chat_id, user_id, update_id)
            stream.shown = [Shown(message_id, "") for message_id in shown]
        return stream

    async def shown(self, chat_id: str, user_id: str, update_id: int) -> list[int]:
        """The messages the reply to `update_id` had shown when the last run ended."""
        stored = await self.memory.get_preference(self.platform, chat_id, self.key, user_id)
        if not stored or stored.get("update") != update_id:
            return []
        return [int(message_id) for message_id in stored["messages"]]


@dataclass
class Shown(Generic[Sent]):
    sent: Sent
    text: str


class EditedReply(Generic[Sent]):
    """A ReplyStream showing a reply by editing its message(s) as it grows, then the final text.

    `first_after_s`: the first message goes out once the reply has streamed this long (a reply
    that finishes sooner is sent once, whole). `on_partial` hears what is shown whenever streaming
    adds a message (to find a fragment again after a crash)."""

    def __init__(
        self,
        posts: Posts[Sent],
        pacer: EditPacer,
        chat: Hashable,
        first_after_s: float = 0.0,
        on_partial: Callable[[list[Sent]], Awaitable[None]] | None = None,
    ) -> None:
        self.posts, self.pacer, self.chat, self.on_partial = posts, pacer, chat, on_partial
        self.text = ""
        self.final: Reply | None = None
        self.shown: list[Shown[Sent]] = []
        self._flush: asyncio.Task[None] | None = None
        self._first_at = asyncio.get_running_loop().time() + first_after_s

    def shows_at(self) -> float:
        """When new text could show next (loop time): not before the first message is due, nor while
        the chat's edit slot is taken. A stream in front (the safety checks) holds text until then."""
        return max(self._first_at, self.pacer.free_at(self.chat))

    async def delta(self, text: str) -> None:
        self.text += text
        if self._flush is not None and not self._flush.done():
            return
        if asyncio.get_running_loop().time() < self._first_at or not self.text.strip():
            return
        if self.pacer.try_take(self.chat):
            self._flush = asyncio.create_task(self._show_partial())

    async def finish(self, reply: Reply) -> None:
        self.final = reply
        if self._flush is not None:
            await self._flush
        pieces = self.posts.pieces(self.posts.render(reply))
        if not pieces:  # nothing to say (an empty reply): leave what is shown
            return
        if self.shown and [s.text for s in self.shown] != pieces:
            await self.pacer.take(self.chat)
        await self._show(pieces, final=True)

    async def _show_partial(self) -> None:
        try:
            await self._show(self.posts.pieces(self.text), final=False)
        except Exception as exc:  # the final text will follow; a lost intermediate edit is fine
            log.info("streaming edit in chat %s failed: %s", self.chat, type(exc).__name__)

    async def _show(self, pieces: list[str], final: bool) -> None:
        """Make the chat show `pieces`: edit what is shown, post what is new, delete what is surplus."""
        shown = len(self.shown)
        for i, piece in enumerate(pieces):
            if i < len(self.shown):
                if self.shown[i].text != piece:
                    self.shown[i].sent = await self.posts.edit(self.shown[i].sent, piece, final)
                    self.shown[i].text = piece
            else:
                self.shown.append(Shown(await self.posts.post(piece, i == 0, final), piece))
        if not final and len(self.shown) > shown and self.on_partial is not None:
            await self.on_partial([s.sent for s in self.shown])
        if final:
            for surplus in self.shown[len(pieces) :]:
                await self.posts.delete(surplus.sent)
            del self.shown[len(pieces) :]
