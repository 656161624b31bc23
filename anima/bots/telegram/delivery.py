"""Getting a reply onto Telegram: streamed edits under a per-chat budget, split at 4096, plain text.

Replies go out as plain text (no parse_mode), so nothing a model writes can cause a "can't parse
entities" error. Rate limits and retries are not handled here but in `limits.FloodLimits`, which
PTB calls for every request.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from telegram import ReplyParameters
from telegram.constants import ChatAction, MessageLimit
from telegram.error import BadRequest, TelegramError
from telegram.ext import ExtBot

from anima.core.messages import Reply

log = logging.getLogger(__name__)

ACTION_REFRESH_S = 4.0  # Telegram shows "typing…" for 5 s or until the bot sends a message
ONE_TRY = 1  # rate_limit_args for requests not worth retrying (see limits.FloodLimits)
TYPING_GRACE_S = 0.3  # a reply faster than this needs no indicator (and saves a request)
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)|[。！？]")
_MENTION = re.compile(r"(?<!\w)@(?=[A-Za-z0-9_]{4,})")


def utf16_len(text: str) -> int:
    """Telegram counts message length in UTF-16 code units (an emoji can count two)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """Cut `text` into messages of at most `limit` UTF-16 units, preferring the last paragraph
    break, then line break, sentence end and space in the second half of each piece."""
    pieces: list[str] = []
    rest = text.strip()
    while utf16_len(rest) > limit:
        head = _prefix_within(rest, limit)
        cut = _best_break(head)
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def _prefix_within(text: str, limit: int) -> str:
    end = limit
    while (excess := utf16_len(text[:end]) - limit) > 0:
        end -= (excess + 1) // 2  # each character is one or two units
    return text[:end]


def _best_break(head: str) -> int:
    """Where to end a piece: the latest natural break in the second half of `head`."""
    floor = len(head) // 2
    for separator in ("\n\n", "\n"):
        at = head.rfind(separator)
        if at >= floor:
            return at + len(separator)
    ends = [m.end() for m in _SENTENCE_END.finditer(head, floor)]
    if ends:
        return ends[-1]
    at = head.rfind(" ")
    return at + 1 if at >= floor else len(head)


def defuse_mentions(text: str) -> str:
    """Keep model output in groups from pinging people: a word joiner after @ breaks the mention."""
    return _MENTION.sub("@\u2060", text)


def final_text(reply: Reply) -> str:
    notes = "\n".join(f"({notice})" for notice in reply.notices)
    return f"{reply.text}\n\n{notes}" if notes else reply.text


class EditPacer:
    """At most one edit per `interval` per chat, shared by every reply streaming into that chat."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next: dict[int, float] = {}

    def try_take(self, chat_id: int) -> bool:
        """Take the chat's next edit slot if it is free now (intermediate edits skip, never wait)."""
        now = asyncio.get_running_loop().time()
        if self._next.get(chat_id, 0.0) > now:
            return False
        self._reserve(chat_id, now)
        return True

    async def take(self, chat_id: int) -> None:
        """Wait for the chat's next edit slot (a reply's final edit must happen, so it waits)."""
        now = asyncio.get_running_loop().time()
        at = max(now, self._next.get(chat_id, 0.0))
        self._reserve(chat_id, at)
        if at > now:
            await asyncio.sleep(at - now)

    def _reserve(self, chat_id: int, at: float) -> None:
        if len(self._next) > 10_000:  # forget chats whose slot is long free
            self._next = {c: t for c, t in self._next.items() if t > at}
        self._next[chat_id] = at + self.interval


@dataclass
class Shown:
    message_id: int
    text: str


class EditStream:
    """A ReplyStream that shows a reply as it grows by editing its message(s), then the final text.

    Intermediate edits are best effort: at most one in flight, skipped while the chat's edit slot
    is taken, and they show the newest text when they run. The final text is always delivered.
    `on_partial` hears the ids of the messages shown whenever streaming adds one (see resume.py).
    """

    def __init__(
        self,
        bot: ExtBot[Any],
        chat_id: int,
        pacer: EditPacer,
        quote: int | None = None,
        in_group: bool = False,
        on_partial: Callable[[list[int]], Awaitable[None]] | None = None,
    ) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.pacer = pacer
        self.quote = quote
        self.in_group = in_group
        self.on_partial = on_partial
        self.text = ""
        self.shown: list[Shown] = []
        self._flush: asyncio.Task[None] | None = None
        self._first_flush_at = asyncio.get_running_loop().time() + pacer.interval

    async def delta(self, text: str) -> None:
        self.text += text
        if self._flush is not None and not self._flush.done():
            return
        if asyncio.get_running_loop().time() < self._first_flush_at or not self.text.strip():
            return
        if self.pacer.try_take(self.chat_id):
            self._flush = asyncio.create_task(self._show_partial())

    async def finish(self, reply: Reply) -> None:
        if self._flush is not None:
            await self._flush
        pieces = split_text(self._render(final_text(reply)))
        if not pieces:  # nothing to say (an empty reply): leave what is shown
            return
        if self.shown and [s.text for s in self.shown] != pieces:
            await self.pacer.take(self.chat_id)
        await self._show(pieces, final=True)

    def _render(self, text: str) -> str:
        return defuse_mentions(text) if self.in_group else text

    async def _show_partial(self) -> None:
        try:
            await self._show(split_text(self._render(self.text)), final=False)
        except TelegramError as exc:  # the final text will follow; a lost intermediate edit is fine
            log.info("streaming edit in chat %s failed: %s", self.chat_id, exc)

    async def _show(self, pieces: list[str], final: bool) -> None:
        """Make the chat show `pieces`: edit what is shown, send what is new, delete what is surplus.
        Intermediate steps get one try: the final text follows anyway, with full retries."""
        tries = None if final else ONE_TRY
        shown = len(self.shown)
        for i, piece in enumerate(pieces):
            if i < len(self.shown):
                if self.shown[i].text != piece:
                    await self._edit(i, piece, tries)
            else:
                quote = self.quote if i == 0 else None
                message = await self.bot.send_message(
                    self.chat_id,
                    piece,
                    reply_parameters=ReplyParameters(quote, allow_sending_without_reply=True)
                    if quote
                    else None,
                    rate_limit_args=tries,
                )
                self.shown.append(Shown(message.message_id, piece))
        if not final and len(self.shown) > shown and self.on_partial is not None:
            await self.on_partial([s.message_id for s in self.shown])
        if final:
            for surplus in self.shown[len(pieces) :]:
                await self.bot.delete_message(self.chat_id, surplus.message_id)
            del self.shown[len(pieces) :]

    async def _edit(self, index: int, piece: str, tries: int | None) -> None:
        shown = self.shown[index]
        try:
            await self.bot.edit_message_text(piece, self.chat_id, shown.message_id, rate_limit_args=tries)
        except BadRequest as exc:
            if "not modified" in exc.message:
                pass
            elif "not found" in exc.message:  # deleted by someone: the text still has to arrive
                message = await self.bot.send_message(self.chat_id, piece, rate_limit_args=tries)
                shown.message_id = message.message_id
            else:
                raise
        shown.text = piece


@asynccontextmanager
async def chat_action(
    bot: ExtBot[Any], chat_id: int, action: str = ChatAction.TYPING, grace_s: float = TYPING_GRACE_S
) -> AsyncIterator[None]:
    """Show `action` ("typing…", "recording a voice message…") in the chat while the body runs, from
    a short grace on (a timer, not a task, until then: most of the cost of a fast reply), refreshed
    before Telegram hides it."""
    action_task: asyncio.Task[None] | None = None

    def start() -> None:
        nonlocal action_task
        action_task = asyncio.create_task(keep_showing(bot, chat_id, action))

    timer = asyncio.get_running_loop().call_later(grace_s, start)
    try:
        yield
    finally:
        timer.cancel()
        if action_task is not None:
            action_task.cancel()  # an action still in flight is worth nothing now


async def keep_showing(bot: ExtBot[Any], chat_id: int, action: str) -> None:
    """Until cancelled: one try at the action, then again when Telegram would hide it."""
    while True:
        try:
            await bot.send_chat_action(chat_id, action, rate_limit_args=ONE_TRY)
        except TelegramError as exc:
            log.info("%s action in chat %s failed: %s", action, chat_id, exc)
        await asyncio.sleep(ACTION_REFRESH_S)  # a cadence, not a wait for an event


async def send_text(bot: ExtBot[Any], chat_id: int, text: str, quote: int | None = None) -> None:
    """Send a complete text (a command's answer), split when it is long."""
    for i, piece in enumerate(split_text(text)):
        reply = ReplyParameters(quote, allow_sending_without_reply=True) if quote and i == 0 else None
        await bot.send_message(chat_id, piece, reply_parameters=reply)
