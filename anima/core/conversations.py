"""The conversation service: the one entry point an adapter calls with an Incoming and its Surface.

`handle` takes the message's place on arrival (backpressure: the busy line once per burst), keeps
each person's messages in arrival order, asks the surface whether the message is for the bot, and
answers it exactly once through the inbox: claimed before work, marked answered after delivery,
and a message a crash left unanswered is resumed with memory deciding what was done already. Then
the pipeline answers, the reply streams to the surface, and with voice on a voice note follows.
Messages of one person in one conversation that come within `coalesce_ms` of each other (a burst)
are answered once, the model reading all of them in order.
Adapters take no locks and never read memory's tables.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from anima.characters.card import CharacterCard
from anima.characters.macros import expand
from anima.core.admission import Refused, answer_refused
from anima.core.casts import Casts, Stage
from anima.core.group_context import GroupContext
from anima.core.messages import DiscardStream, Incoming, Reply, ReplyStream
from anima.core.ordering import ConversationLocks
from anima.core.pipeline import Pipeline
from anima.core.preferences import ChatPreferences
from anima.core.surface import Surface, VoiceNote
from anima.errors import AnimaError, NotDelivered
from anima.memory.inbox import Delivery, Inbox

log = logging.getLogger(__name__)

SOMETHING_WENT_WRONG = "Sorry, something went wrong on my side; it has been logged. Please send that again."
REPLAY_WITHIN = timedelta(hours=24)  # older unanswered messages are not answered after a restart
BURST_WINDOWS = 4  # a burst is read after at most this many windows, however fast messages keep coming


class Speaker(Protocol):
    """Makes voice notes (`anima.voice.VoiceService`)."""

    async def speak(self, card: CharacterCard, text: str) -> VoiceNote: ...


class Listener(Protocol):
    """Hears voice messages (`anima.hearing.Listening`)."""

    reply_in_voice: bool  # a message that was spoken is answered in voice, as with /voice on

    async def listen(self, message: Incoming, surface: Surface, card: CharacterCard) -> Incoming | None:
        """The message with the words of its recording as its text; as it is without a recording;
        None when the recording could not be heard (the person was told why)."""
        ...


class Seer(Protocol):
    """Looks at pictures people send (`anima.seeing.Seeing`)."""

    async def look(self, message: Incoming, surface: Surface, card: CharacterCard) -> Incoming | None:
        """The message with its pictures prepared (`images`); as it is without pictures; None when
        nothing of it can be answered (the person was told why)."""
        ...


class Photographer(Protocol):
    """Sends pictures of the character when asked in plain words (`anima.seeing.Selfies`)."""

    async def answer(self, message: Incoming, surface: Surface, card: CharacterCard) -> bool:
        """True when the message asked for a picture and was answered with one (or why not)."""
        ...


# How an adapter reads back one of its stored events: the message and its surface, or None when the
# event is no text turn (a command, a button). Used with several processes (see `_earlier`).
Reader = Callable[[Delivery], tuple[Incoming, Surface] | None]


Arrival = tuple[Incoming, Surface, "Delivery | None"]  # one message, where it came from, its inbox entry


@dataclass
class _Burst:
    """Messages of one person in one conversation gathered to be answered as one (see `handle`)."""

    items: list[Arrival] = field(default_factory=list)
    joined: asyncio.Event = field(default_factory=asyncio.Event)  # a message came: the window restarts
    closed: bool = False  # taken to be answered: a later message starts the next burst
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, item: Arrival) -> None:
        self.items.append(item)
        self.joined.set()


class Conversations:
    def __init__(
        self,
        pipeline: Pipeline,
        preferences: ChatPreferences,
        voice: Speaker,
        listener: Listener | None = None,
        seer: Seer | None = None,
        photographer: Photographer | None = None,
        casts: Casts | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.preferences = preferences
        self.voice = voice
        self.listener = listener
        self.seer = seer
        self.photographer = photographer
        self.casts = casts or Casts([], pipeline.characters)  # several characters on one stage
        self.inbox = Inbox(pipeline.memory, owner=f"{socket.gethostname()}:{os.getpid()}")
        self.shared = False  # several processes on one database (Runtime sets it with PostgreSQL)
        self.on_forget: list[Callable[[str, str], None]] = []  # (platform, user): drop what adapters cache
        self._order = ConversationLocks()  # one person's messages in one chat, in arrival order
        self._fresh: set[tuple[str, str, str]] = set()  # claimed at the door by this process, not answered
        self._resuming: set[tuple[str, str, str]] = set()  # left unanswered by an earlier run
        self._readers: dict[tuple[str, str], Reader] = {}
        self.coalesce_s = 0.0  # conversation.coalesce_ms (Runtime sets it): 0 answers each message alone
        self._bursts: dict[Hashable, _Burst] = {}
        self._groups: dict[tuple[str, str], GroupContext] = {}  # (platform, bot): its groups' lines
        self.on_forget.append(self._forget_in_groups)

    def follow_groups(self, platform: str, bot_id: str, lines: int) -> None:
        """Let the characters of this bot read the last `lines` said in each of its groups by others
        (anima/core/group_context.py): every group message is heard, addressed to the bot or not."""
        self._groups[(platform, bot_id)] = GroupContext(lines)

    def _forget_in_groups(self, platform: str, user_id: str) -> None:
        for (followed, _), group in self._groups.items():
            if followed == platform:
                group.forget_user(user_id)

    async def _addressed(self, message: Incoming, surface: Surface) -> Incoming | None:
        """`surface.addressed`; in a followed group, with what the others said there lately."""
        group = self._groups.get((message.platform, surface.bot_id)) if surface.kind == "group" else None
        if group is None:
            return await surface.addressed(message)
        lately = group.for_user(message.chat_id, message.user_id)
        group.add(message.chat_id, message.user_id, message.display_name, message.text)
        addressed = await surface.addressed(message)
        return replace(addressed, chat_context=lately) if addressed is not None else None

    def _heard_reply(self, message: Incoming, surface: Surface, reply: Reply | None) -> None:
        """A reply in a followed group becomes one of its lines (for the person it answered, not shown
        back to them: it is in their conversation)."""
        group = self._groups.get((message.platform, surface.bot_id)) if surface.kind == "group" else None
        if group is not None and reply is not None:
            group.add(message.chat_id, message.user_id, reply.character_name, reply.text)

    def read_back(self, platform: str, bot_id: str, reader: Reader) -> None:
        """How to read back the bot's stored events (see `Reader`): with several processes, a turn
        answers earlier unanswered messages of its conversation first, to keep their order."""
        self._readers[(platform, bot_id)] = reader

    # -- the inbox at the door (for platforms that must confirm an event before it is answered) ------

    async def claim(self, delivery: Delivery) -> bool:
        """Store an event as it arrives; False when it was stored already (a redelivery: drop it)."""
        if not await self.inbox.claim(delivery):
            return False
        self._fresh.add(_id(delivery))
        return True

    async def unanswered(self, platform: str, bot_id: str) -> list[Delivery]:
        """What was claimed and never answered when the last run ended, oldest first: the adapter
        hands each to `handle` again. Older than REPLAY_WITHIN: marked answered, not answered."""
        oldest = datetime.now(UTC) - REPLAY_WITHIN
        kept = []
        for delivery in await self.inbox.pending(platform, bot_id):
            if delivery.received_at is not None and delivery.received_at < oldest:
                log.warning(
                    "%s message %s is older than a day; not answering it", platform, delivery.delivery_id
                )
                await self.inbox.answered(platform, bot_id, delivery.delivery_id)
                continue
            self._fresh.discard(_id(delivery))
            self._resuming.add(_id(delivery))
            kept.append(delivery)
        return kept

    async def answered(self, delivery: Delivery) -> None:
        """Mark an event answered that never reached `handle` (an update no handler took)."""
        self._forget(delivery)
        await self.inbox.answered(delivery.platform, delivery.bot_id, delivery.delivery_id)

    async def once(self, delivery: Delivery, work: Awaitable[object]) -> None:
        """Run an event that is not a message to answer (a command, a button press), then mark it
        answered; unless the platform did not take the answer: then it stays for the next start."""
        try:
            await work
        except NotDelivered as exc:
            log.warning(
                "%s: event %s kept for the next start: %s", delivery.platform, delivery.delivery_id, exc
            )
            self._forget(delivery)
            return
        except Exception:  # logged; a failing command never stops the bot
            log.exception("%s: handling event %s failed", delivery.platform, delivery.delivery_id)
        await self.answered(delivery)

    # -- one message -----------------------------------------------------------------------------

    async def handle(
        self, message: Incoming, surface: Surface, delivery: Delivery | None = None, gather: bool = True
    ) -> Reply | None:
        """Answer one message, exactly once when it comes with its `delivery` (its inbox entry).

        Call it as the message arrives, before awaiting anything: its place in the person's queue
        is taken before the first await, so replies keep the order messages arrived in. With
        `coalesce_s` set and `gather`, the message waits that long for more of the person's: those
        that come join it (the window restarts with each, up to BURST_WINDOWS) and are answered as
        one, their calls returning None; one that comes while the reply streams starts the next.
        Where a cast plays, each message is played at once."""
        person: Hashable = (message.platform, surface.bot_id, message.chat_id, message.user_id)
        place = self.pipeline.admission.enter(person)
        async with self.pipeline.turns.track():
            if isinstance(place, Refused):
                return await self._busy(place, message, surface, person, delivery)
            async with place:
                stage = None if message.is_private else self.casts.stage(message.platform, message.chat_id)
                if stage is not None:
                    async with self._order.hold(person):
                        addressed = await self._for_bot(message, surface)
                        return await self._scene(stage, message, addressed, surface, delivery)
                if not gather or self.coalesce_s <= 0:
                    async with self._order.hold(person):
                        return await self._read([(message, surface, delivery)])
                burst = self._bursts.get(person)
                if burst is not None and not burst.closed:
                    burst.add((message, surface, delivery))
                    await burst.done.wait()
                    return None
                burst = self._bursts[person] = _Burst()
                burst.add((message, surface, delivery))
                try:
                    await self._gathered(burst)
                    async with self._order.hold(person):
                        burst.closed = True
                        return await self._read(burst.items)
                finally:
                    burst.closed = True
                    if self._bursts.get(person) is burst:
                        del self._bursts[person]
                    burst.done.set()

    async def _gathered(self, burst: _Burst) -> None:
        """Until `coalesce_s` passed without a new message in the burst (at most BURST_WINDOWS)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BURST_WINDOWS * self.coalesce_s
        while (left := deadline - loop.time()) > 0:
            burst.joined.clear()
            try:
                await asyncio.wait_for(burst.joined.wait(), min(self.coalesce_s, left))
            except TimeoutError:
                return

    async def _for_bot(self, message: Incoming, surface: Surface) -> Incoming | None:
        """The message as the character reads it (`_addressed`), held through the surface's bot."""
        addressed = await self._addressed(message, surface)
        if addressed is not None and not addressed.bot_id:  # what is learned from it is that bot's
            addressed = replace(addressed, bot_id=surface.bot_id)
        return addressed

    async def _read(self, items: list[Arrival]) -> Reply | None:
        """The messages as the character reads them (each asked of its surface once, in order),
        answered: runs of plain texts as one turn each, a message with attachments on its own."""
        turns: list[list[Arrival]] = []
        for message, surface, delivery in items:
            addressed = await self._for_bot(message, surface)
            if addressed is None:  # chatter: nothing to answer
                await self._unanswered(delivery)
                continue
            item = (await self._as_seen(addressed), surface, delivery)
            last = turns[-1] if turns else []
            alone = bool(addressed.attachments) or any(m.attachments for m, _, _ in last)
            if not last or alone or addressed.character_id != last[0][0].character_id:
                turns.append([item])
            else:
                last.append(item)
        reply = None
        for turn in turns:
            reply = await self._turns(turn)
        return reply

    async def _as_seen(self, message: Incoming) -> Incoming:
        """The message with the name and description the person asked characters to see (/persona)."""
        persona = await self.preferences.persona(message.platform, message.user_id)
        if persona is None:
            return message
        name = persona.name or message.display_name
        return replace(message, display_name=name, persona=persona.description)

    async def _unanswered(self, delivery: Delivery | None) -> None:
        """A claimed message that gets no answer: marked answered, it was read."""
        if delivery is not None and _id(delivery) in self._fresh | self._resuming:
            await self.answered(delivery)

    # -- casts: several characters on one stage (anima/core/casts.py) --------------------------------

    async def _scene(
        self,
        stage: Stage,
        message: Incoming,
        addressed: Incoming | None,
        surface: Surface,
        delivery: Delivery | None,
    ) -> Reply | None:
        """A person spoke where a cast plays: the members answer, one after another as the strategy
        names them (each reading what the others said), until it names nobody or `max_bot_turns`.
        Every message is for the cast, addressed to one bot or not; heard by several bots of the
        cast (one per member on Telegram), it is played once."""
        if not stage.first_hearing(message.message_id):
            await self._unanswered(delivery)
            return None
        called = addressed.character_id if addressed is not None and addressed.mentions_bot else None
        line = await self._as_seen(addressed or message)
        async with stage.lock:
            voices = self.casts.voices(stage, surface)
            members = self.casts.members(stage, list(voices))
            if not message.from_bot:
                await self._greet(stage, members, voices, line.display_name)
            stage.heard(line.display_name, line.text, message.from_bot)
            reply, taken = None, delivery
            while (member := stage.next_speaker(members, line.text, called)) is not None:
                turn = replace(line, character_id=member, chat_context=stage.context(), is_private=False)
                reply = await self._turn(turn, voices[member], taken)
                taken = called = None  # the person's message is answered by the first member
                if reply is None or reply.failed:
                    break
                stage.said(member, reply.character_name, reply.text)
                line = Incoming(  # the next member answers this member's line
                    message.platform,
                    message.chat_id,
                    f"cast:{member}",
                    reply.character_name,
                    reply.text,
                    is_private=False,
                    guild_id=message.guild_id,
                )
        await self._unanswered(taken)
        return reply

    async def _greet(
        self, stage: Stage, members: list[CharacterCard], voices: dict[str, Surface], person: str
    ) -> None:
        """The first time a cast plays in a chat, each member says one of its group greetings (or
        its greeting), once per chat (remembered with the chat's preferences)."""
        if stage.greeted:
            return
        stage.greeted = True
        platform, chat_id = stage.cast.platform, stage.cast.chat_id
        if await self.preferences.cast_greeted(platform, chat_id):
            return
        await self.preferences.set_cast_greeted(platform, chat_id)
        for card in members:
            greetings = card.group_greetings or card.greeting
            text = expand(random.choice(greetings), {"char": card.char_name, "user": person})
            try:
                async with voices[card.id].replying() as stream:
                    await stream.finish(Reply(text, card.id, card.name))
            except Exception:  # a greeting lost is no reason to leave the person unanswered
                log.exception("%s: %s's greeting in %s failed", platform, card.id, chat_id)
                continue
            stage.said(card.id, card.name, text)  # no turn: the person's line comes next

    async def _busy(
        self,
        refused: Refused,
        message: Incoming,
        surface: Surface,
        person: Hashable,
        delivery: Delivery | None,
    ) -> Reply | None:
        """Over the bound: the character's busy line, once per burst; chatter not for it gets nothing.
        The message is not answered: a claimed one is marked answered (it was refused, not lost)."""
        addressed = await self._addressed(message, surface)
        if delivery is not None and _id(delivery) in self._fresh:
            await self.answered(delivery)
        if addressed is None:
            self.pipeline.admission.not_told(person)
            return None
        card = self.pipeline.character_for(addressed)
        async with surface.replying() as stream:
            return await answer_refused(refused, card, addressed.display_name, stream)

    async def _turn(self, message: Incoming, surface: Surface, delivery: Delivery | None) -> Reply | None:
        return await self._turns([(message, surface, delivery)])

    async def _turns(self, items: list[Arrival]) -> Reply | None:
        """Claimed, answered and marked answered under the conversation's lock (shared by every
        process on PostgreSQL): another delivery of the message finds it answered, and one found
        claimed but unanswered was left by a process that died mid-reply. Several items: a burst,
        answered as one message."""
        message, _, delivery = items[0]
        async with self.pipeline.hold(message):
            if delivery is not None and self.shared:
                for earlier in await self._earlier(message, delivery):
                    await self._held_turn([earlier])
            return await self._held_turn(items)

    async def _earlier(
        self, message: Incoming, delivery: Delivery
    ) -> list[tuple[Incoming, Surface, Delivery]]:
        """Messages of this conversation stored before `delivery` and still unanswered: taken by
        another process that has not had its turn yet, or left by one that died. Answered here
        first (memory deciding what was done already), so the conversation keeps its order."""
        reader = self._readers.get((delivery.platform, delivery.bot_id))
        if reader is None:
            return []
        found = []
        for stored in sorted(await self.inbox.pending(delivery.platform, delivery.bot_id), key=_order):
            if _order(stored) >= _order(delivery):
                break
            read = reader(stored)
            if read is None or (read[0].chat_id, read[0].user_id) != (message.chat_id, message.user_id):
                continue
            addressed = await self._addressed(read[0], read[1])
            if addressed is None:
                await self.answered(stored)
                continue
            found.append((addressed, read[1], stored))
        return found

    async def _held_turn(self, items: list[Arrival]) -> Reply | None:
        """One turn (one message, or a burst read as one), holding its conversation's lock."""
        kept: list[Arrival] = []
        resumed = False
        for item in items:
            found = item[2] is not None and await self._resumed(item[2])
            if found is None:
                continue  # answered already (a redelivery, another process)
            kept.append(item)
            resumed = resumed or found
        if not kept:
            return None
        message, surface = merged([m for m, _, _ in kept]), kept[-1][1]
        deliveries = [d for _, _, d in kept if d is not None]
        try:
            reply = await self._answer(message, surface, resumed)
        except NotDelivered as exc:
            log.warning(
                "%s: the reply did not reach the chat; answered at the next start: %s",
                message.platform,
                exc,
            )
            for delivery in deliveries:
                self._forget(delivery)
            return None
        except Exception:
            log.exception("%s: answering message %s failed", message.platform, message.message_id)
            await self._apologise(surface)
            reply = None
        for delivery in deliveries:
            await self.answered(delivery)  # an apology answers it too
        return reply

    async def _resumed(self, delivery: Delivery) -> bool | None:
        """False for a new message, True for one to resume (stored before a crash, or by a process
        that died), None for one answered already."""
        key = _id(delivery)
        if key in self._fresh and not self.shared:
            return False  # claimed at this process's door and answered only here
        if key in self._resuming:
            return True
        if key not in self._fresh and await self.inbox.claim(delivery):
            return False
        if await self.inbox.is_answered(delivery):
            self._forget(delivery)
            return None
        return key not in self._fresh

    async def _answer(self, message: Incoming, surface: Surface, resumed: bool) -> Reply | None:
        card = self.pipeline.character_for(message)
        if self.listener is not None and message.attachments:
            heard = await self.listener.listen(message, surface, card)
            if heard is None:
                return None
            message = heard
        if self.seer is not None and message.attachments:
            seen = await self.seer.look(message, surface, card)
            if seen is None:
                return None
            message = seen
        if self.photographer is not None and await self.photographer.answer(message, surface, card):
            return None
        voice_on = await self.preferences.voice(message.platform, message.chat_id, message.user_id)
        voice_on = voice_on or (message.spoken and self.listener is not None and self.listener.reply_in_voice)
        text_too = not voice_on or card.voice.mode != "voice"
        voice_too = voice_on and card.voice.mode != "text"
        async with surface.replying(resumed) as stream:
            # Voice only: nothing streams, and the chat shows "recording…" from the start.
            async with surface.showing("typing" if text_too else "recording"):
                reply = await self._reply(message, stream if text_too else DiscardStream(), resumed)
            if reply is not None and voice_too:
                await self._speak(card, reply, surface, stream, text_sent=text_too)
        self._heard_reply(message, surface, reply)
        return reply

    async def _reply(self, message: Incoming, stream: ReplyStream, resumed: bool) -> Reply | None:
        """The pipeline's answer. For a message resumed after a crash, memory decides: a reply stored
        there is sent as it is (it may never have reached the chat), a message stored without one is
        answered without being stored twice, and one never stored takes the usual way."""
        if resumed and message.message_id:
            card = self.pipeline.character_for(message)
            found = await self.inbox.remembered(self.pipeline.key_for(message, card), message.message_id)
            if found.reply is not None:
                reply = Reply(found.reply, card.id, card.name)
                await stream.finish(reply)
                return reply
            resumed = found.stored
        return await self.pipeline.reply(message, stream, resumed=resumed)

    async def _speak(
        self, card: CharacterCard, reply: Reply, surface: Surface, stream: ReplyStream, text_sent: bool
    ) -> None:
        """The voice note for a reply. Without its text already sent, the text goes out when no note
        does (a failed reply is never spoken: its apology is text), or just the notices when one did."""
        spoken = False
        if not reply.failed:
            try:
                # No grace: making a note takes long enough that the indicator is worth its request.
                async with surface.showing("recording"):
                    note = await self.voice.speak(card, reply.text)
                spoken = await surface.send_voice(note)
            except AnimaError as exc:  # the text (if any) is out already: say nothing more
                log.warning("no voice note for %s: %s", card.id, exc)
        if text_sent:
            return
        if not spoken:
            await stream.finish(reply)
        elif reply.notices:
            await surface.send_text(replace(reply, text="").noted)

    async def _apologise(self, surface: Surface) -> None:
        try:
            await surface.send_text(SOMETHING_WENT_WRONG)
        except Exception as exc:  # the chat is unreachable: the failure is logged already
            log.warning("could not tell the person about the failure: %s", type(exc).__name__)

    def _forget(self, delivery: Delivery) -> None:
        self._fresh.discard(_id(delivery))
        self._resuming.discard(_id(delivery))


def merged(messages: list[Incoming]) -> Incoming:
    """A burst as one message: every text in order, one a line, with the last one's id (what memory
    stores it under) and the group lines from before the first."""
    if len(messages) == 1:
        return messages[0]
    text = "\n".join(m.text for m in messages if m.text.strip())
    return replace(messages[-1], text=text, chat_context=messages[0].chat_context)


def _order(delivery: Delivery) -> tuple[int, str]:
    """The platform's order of its events: Telegram's update ids and Discord's message ids grow."""
    return (int(delivery.delivery_id), "") if delivery.delivery_id.isdigit() else (0, delivery.delivery_id)


def _id(delivery: Delivery) -> tuple[str, str, str]:
    return delivery.platform, delivery.bot_id, delivery.delivery_id
