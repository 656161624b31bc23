"""Catching up at start, for a platform that never redelivers (Discord): what people wrote while no
process ran is read back from the chats' history and answered in order, once.

The inbox knows the chats where the bot took messages lately, and any it took but never answered
(a kill mid-reply). Each such chat's newest messages are read back (from the oldest unanswered one,
if any), bounded in count and age; the conversation service answers every one addressed to the bot
and not answered yet, in order. The newest messages rather than those after the last one taken: a
message still waiting for its turn when the process died was never taken, and may be older than
one taken from somebody else. Only chats where the bot was addressed within the age bound are
read: one request per chat. Live messages wait until the backlog is answered.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from anima.core.messages import Incoming
from anima.errors import MemoryStoreError
from anima.memory.inbox import Delivery, Inbox

log = logging.getLogger(__name__)

CATCH_UP_MESSAGES = 50  # per chat, oldest first
CATCH_UP_AGE = timedelta(hours=12)  # older messages are not answered after a restart
M = TypeVar("M")  # a platform's message, as its history gives it


@dataclass(frozen=True)
class ChatMark:
    """A chat to read back: its newest messages, or those after `after` (just before the oldest
    message taken and never answered). `group_id`: the chat's server, if any (its shard serves it)."""

    chat_id: int
    group_id: int | None
    after: int | None


@dataclass(frozen=True)
class ReadBack:
    """Which of a chat's messages to read back, by the platform's ids (they grow with time): after
    `after` and before `before`; the newest of them (`newest_first`), or else the oldest."""

    after: int
    before: int
    newest_first: bool


class CatchUp:
    """One bot's backlog: found in the inbox before it connects, read once the platform is ready.
    `id_at`: the platform's message id at a moment (Discord's snowflake of a time)."""

    def __init__(self, inbox: Inbox, platform: str, id_at: Callable[[datetime], int]) -> None:
        self.inbox, self.platform, self.id_at = inbox, platform, id_at
        self.bot_id = self.name = ""  # known once the bot has logged in (see `find`)
        self.marks: list[ChatMark] = []
        self.until = datetime.now(UTC)  # history before it is read back; after it came live
        self._done = asyncio.Event()
        self._reading: asyncio.Task[None] | None = None

    @property
    def since(self) -> datetime:
        return self.until - CATCH_UP_AGE

    def delivery(self, message: Incoming) -> Delivery:
        """A message's inbox entry, with where to find its chat again (claimed under the
        conversation's lock: the platform never redelivers)."""
        # The payload's keys are those the inbox has stored since catch-up began (on Discord).
        assert message.message_id is not None  # a platform whose history is read back has ids
        where = json.dumps({"channel_id": message.chat_id, "guild_id": message.guild_id or ""})
        return Delivery(self.platform, self.bot_id, message.message_id, where)

    async def find(self, bot_id: str, name: str) -> None:
        """The chats to read back for the bot `bot_id`; with none (the usual case) nothing waits.
        Call it just before connecting: what comes after it comes live."""
        self.bot_id, self.name = bot_id, name
        try:
            await self.inbox.prune()
            self.marks = chat_marks(await self.inbox.taken_since(self.platform, self.bot_id, CATCH_UP_AGE))
        except MemoryStoreError as exc:
            log.warning(
                "%s: cannot read the inbox; what was sent while it was down stays unanswered: %s",
                self.name,
                exc,
            )
        self.until = datetime.now(UTC)
        if not self.marks:
            self._done.set()

    def start(
        self,
        history: Callable[[ChatMark, ReadBack], Awaitable[list[M]]],
        answer: Callable[[M], Awaitable[None]],
        mine: Callable[[ChatMark], bool],
    ) -> asyncio.Task[None] | None:
        """Once ready, read back every chat this process serves (`mine`): its messages in the window
        `history` gives (a chat that cannot be read is skipped, said once), each to `answer`, oldest
        first. The task, the first time only (a reconnect's ready starts nothing)."""
        if self._reading is not None or self._done.is_set():
            return None

        async def read_all() -> None:
            try:
                marks = [mark for mark in self.marks if mine(mark)]
                log.info(
                    "%s: reading back %d chats for messages sent while it was down", self.name, len(marks)
                )
                await asyncio.gather(*(self._read(mark, history, answer) for mark in marks))
            finally:
                self._done.set()

        self._reading = asyncio.create_task(read_all())
        return self._reading

    async def _read(
        self,
        mark: ChatMark,
        history: Callable[[ChatMark, ReadBack], Awaitable[list[M]]],
        answer: Callable[[M], Awaitable[None]],
    ) -> None:
        """One chat's backlog up to the connection (what came after came live): its newest messages,
        or those from the oldest one taken and never answered; answered oldest first."""
        oldest = self.id_at(self.since)
        after = oldest if mark.after is None else max(mark.after, oldest)
        window = ReadBack(after, self.id_at(self.until), newest_first=mark.after is None)
        try:
            found = await history(mark, window)
        except Exception as exc:  # the platform's refusal (its text may quote the request): skip the chat
            log.warning("%s: cannot read back chat %s: %s", self.name, mark.chat_id, type(exc).__name__)
            return
        for message in reversed(found) if window.newest_first else found:
            await answer(message)

    async def wait(self) -> None:
        """Return once the backlog is answered (at once when there is none: arrival order holds)."""
        await self._done.wait()

    def release(self) -> None:
        """Stopping: messages held for the backlog go on (and finish with the replies in flight)."""
        self._done.set()


def chat_marks(taken: list[tuple[str, str, bool]]) -> list[ChatMark]:
    """The chats of the messages taken lately (delivery id, payload, answered), each with where to
    read from: after the oldest one never answered, or its newest messages."""
    unanswered: dict[int, int] = {}
    groups: dict[int, int | None] = {}
    for delivery_id, payload, answered in taken:
        where, message_id = json.loads(payload), int(delivery_id)
        chat = int(where["channel_id"])
        groups[chat] = int(where["guild_id"]) if where.get("guild_id") else None
        if not answered:
            unanswered[chat] = min(unanswered.get(chat, message_id), message_id)
    return [
        ChatMark(chat, group, unanswered[chat] - 1 if chat in unanswered else None)
        for chat, group in groups.items()
    ]
