"""Characters that write first, with consent: whom (chats that turned it on with /proactive on, on
a card that allows it), when (after the card's `after_idle` of silence, never in its quiet hours in
the person's time zone, at most `max_per_day`, never twice in a row without an answer) and what
(one of the card's openings, or a line generated through the pipeline, output checks included).

The schedule lives in the database (anima/memory/proactive.py), so it survives restarts, and each
due chat is claimed with an UPDATE only one process can win, so several processes on one database
write once. Adapters bring the way to reach a chat unprompted (`ChatOpener`) and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from anima.characters.card import CardProactive
from anima.characters.macros import expand
from anima.config import ConversationSettings
from anima.core.messages import Incoming
from anima.core.pipeline import Pipeline
from anima.core.surface import ChatOpener
from anima.errors import AnimaError, NotDelivered
from anima.memory.proactive import (
    Activity,
    ProactiveKey,
    Scheduled,
    activity,
    claim,
    disable_chat,
    due,
    enable_chat,
    is_enabled,
    release,
)

log = logging.getLogger(__name__)

CLAIM_FOR = timedelta(minutes=5)  # a process that dies holding a chat frees it after this
CARD_OFF_RECHECK = timedelta(hours=1)  # the card may allow it again after an edit
UNREACHABLE_RECHECK = timedelta(hours=6)
NO_BOT_RECHECK = timedelta(minutes=5)  # no process serves the chat's bot right now
WRITE_FIRST = (
    "({{user}} has not written for a while. Write to {{user}} first, as {{char}}: one or two short "
    "sentences that fit what you know of {{user}} and of your last conversation. Do not mention this note.)"
)


@dataclass(frozen=True)
class Decision:
    send: bool
    next_at: datetime  # when to look at the chat again (after a send too)
    why: str = ""


def quiet_until(local: datetime, quiet: tuple[time, time] | None) -> datetime | None:
    """The end of the quiet hours `local` falls in (same zone), or None outside them."""
    if quiet is None or quiet[0] == quiet[1]:
        return None
    start, end = quiet
    now = local.time()
    inside = start <= now < end if start < end else (now >= start or now < end)
    if not inside:
        return None
    ends = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    return ends if ends > local else ends + timedelta(days=1)


def decide(row: Scheduled, card: CardProactive, seen: Activity, now: datetime, zone: tzinfo) -> Decision:
    """Whether to write to the chat now, and when to look again."""
    if not card.enabled or not card.max_per_day:
        return Decision(False, now + CARD_OFF_RECHECK, "the card does not write first")
    idle = card.idle
    if row.last_sent_at is not None and (seen.last_user_at is None or seen.last_user_at <= row.last_sent_at):
        return Decision(False, now + idle, "the last one is unanswered")
    quiet_since = max(seen.last_message_at or row.enabled_at, row.enabled_at)
    if now < quiet_since + idle:
        return Decision(False, quiet_since + idle, "not quiet long enough")
    local = now.astimezone(zone)
    ends = quiet_until(local, card.quiet)
    if ends is not None:
        return Decision(False, ends.astimezone(now.tzinfo), "quiet hours")
    if row.sent_day == local.date().isoformat() and row.sent_today >= card.max_per_day:
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        return Decision(False, midnight.astimezone(now.tzinfo), "enough for today")
    return Decision(True, now + idle)


class Proactive:
    """The scheduler: `run_once` looks at the due chats; `start` does that every `proactive_check_s`."""

    def __init__(self, pipeline: Pipeline, settings: ConversationSettings, owner: str) -> None:
        self.pipeline = pipeline
        self.memory = pipeline.memory
        self.owner = owner
        self.check_s = settings.proactive_check_s
        local = datetime.now().astimezone().tzinfo
        self.zone: tzinfo = ZoneInfo(settings.timezone) if settings.timezone else (local or ZoneInfo("UTC"))
        self._openers: dict[tuple[str, str], ChatOpener] = {}
        self._task: asyncio.Task[None] | None = None

    def reach(self, platform: str, bot_id: str, opener: ChatOpener) -> None:
        """An adapter can write unprompted to its chats: `opener` makes a chat's surface. The
        schedule is read from now on (call it on the event loop)."""
        self._openers[(platform, bot_id)] = opener
        self.start()

    def unreach(self, platform: str, bot_id: str) -> None:
        self._openers.pop((platform, bot_id), None)

    async def enable(self, key: ProactiveKey, kind: str, timezone: str = "") -> None:
        now = self.memory.clock()
        await self.memory.run(lambda conn: enable_chat(conn, key, kind, timezone, now))

    async def disable(self, key: ProactiveKey, anyone: bool = False) -> bool:
        return await self.memory.run(lambda conn: disable_chat(conn, key, anyone))

    async def enabled(self, key: ProactiveKey, anyone: bool = False) -> bool:
        return await self.memory.read(lambda conn: is_enabled(conn, key, anyone))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._every(), name="anima-proactive")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _every(self) -> None:
        while True:
            await asyncio.sleep(self.check_s)
            try:
                await self.run_once()
            except AnimaError as exc:  # the database is unreachable: the next pass tries again
                log.warning("the proactive schedule could not be read: %s", exc)
            except Exception:
                log.exception("a pass over the proactive schedule failed")

    async def run_once(self) -> int:
        """Write to every due chat this process can reach and holds the claim of; returns how many
        messages went out."""
        now = self.memory.clock()
        sent = 0
        reached = list(self._openers)  # another process serves the other bots (or none does now)
        for row in await self.memory.read(lambda conn: due(conn, now, reached)):
            if (row.key.platform, row.key.bot_id) not in self._openers:
                continue  # stopped during this pass
            if not await self._claim(row, now):
                continue  # another process took it
            try:
                sent += await self._look_at(row, now)
            except Exception:  # one chat's failure (its claim given back) never holds up the others
                log.exception("writing first to %s chat %s failed", row.key.platform, row.key.chat_id)
        return sent

    async def _claim(self, row: Scheduled, now: datetime) -> bool:
        return await self.memory.run(lambda conn: claim(conn, row.id, self.owner, now, now + CLAIM_FOR))

    async def _look_at(self, row: Scheduled, now: datetime) -> int:
        """Decide and perhaps write for one claimed row; the claim is always given back."""
        next_at, went_out = now + NO_BOT_RECHECK, False
        try:
            try:
                card = self.pipeline.characters.get(row.key.character_id)
            except AnimaError:  # the card was removed
                await self.disable(row.key)
                return 0
            seen = await self.memory.read(lambda conn: activity(conn, row))
            zone = _zone(row.timezone) or self.zone
            decision = decide(row, card.proactive, seen, now, zone)
            next_at = decision.next_at
            if not decision.send:
                log.debug("not writing first to %s: %s", row.key.chat_id, decision.why)
                return 0
            went_out = await self._write(row, seen, card.proactive)
            if not went_out:
                next_at = now + UNREACHABLE_RECHECK
            return int(went_out)
        finally:
            if went_out:
                day = now.astimezone(_zone(row.timezone) or self.zone).date().isoformat()
                count = (row.sent_today if row.sent_day == day else 0) + 1
                await self.memory.run(lambda conn: release(conn, row.id, next_at, now, day, count))
            else:
                await self.memory.run(lambda conn: release(conn, row.id, next_at))

    async def _write(self, row: Scheduled, seen: Activity, card: CardProactive) -> bool:
        key = row.key
        opener = self._openers[(key.platform, key.bot_id)]
        surface = await opener(key.chat_id, key.user_id, seen.display_name, key.character_id)
        if surface is None:
            log.info("%s chat %s cannot be reached to write first", key.platform, key.chat_id)
            return False
        name = seen.display_name or surface.display_name
        character = self.pipeline.characters.get(key.character_id)
        values = {"char": character.char_name, "user": name}
        message = Incoming(
            key.platform,
            key.chat_id,
            key.user_id,
            name,
            expand(WRITE_FIRST, values),
            key.character_id,
            is_private=row.kind == "private",
            bot_id=key.bot_id,
        )
        opening = expand(random.choice(card.openings), values) if card.openings else None
        reply = await self.pipeline.write_first(message, opening)
        if reply is None:
            return False
        try:
            async with surface.replying() as stream:
                await stream.finish(reply)
        except NotDelivered as exc:
            log.warning("%s: a first message did not reach chat %s: %s", key.platform, key.chat_id, exc)
            return False
        except Exception as exc:  # not worth another try (NotDelivered is): blocked, the chat gone
            log.warning(
                "%s: chat %s refused a first message (%s): writing first there is off until /proactive on",
                key.platform,
                key.chat_id,
                type(exc).__name__,
            )
            await self.disable(key, anyone=row.kind == "group")
            return False
        log.info("%s wrote first to %s chat %s", character.name, key.platform, key.chat_id)
        return True


def _zone(name: str) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):  # checked when it was set; a zone a later tzdata dropped
        return None
