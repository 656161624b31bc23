"""The one message pipeline: safety-in, recall, prompt, generate (streamed), safety-out, remember, deliver."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Protocol

from anima.characters.card import CharacterCard
from anima.characters.library import CharacterLibrary
from anima.characters.macros import expand
from anima.config import LimitsSettings, MemorySettings
from anima.core.admission import Admission, Admitted, Refused, answer_refused
from anima.core.messages import ChatMessage, ConversationKey, DiscardStream, Incoming, Reply, ReplyStream
from anima.core.ordering import ConversationLocks
from anima.core.prompt import NO_CONTEXT, PromptBuilder, TurnContext
from anima.core.turns import TurnsInFlight
from anima.core.untrusted import speaker_name
from anima.errors import LLMError, MemoryStoreError, PromptTooLarge
from anima.llm.router import LLMRouter
from anima.memory.keeper import FinishedTurn, MemoryKeeper
from anima.memory.store import ConversationState, MemoryStore, StoredMessage, storable_text
from anima.ops.metrics import METRICS
from anima.safety import SafetyPolicy
from anima.safety.checks.injection import find_injection
from anima.safety.policy import TurnSafety

log = logging.getLogger(__name__)


@dataclass
class Generated:
    text: str
    backend: str = ""
    cut: bool = False
    failed: bool = False
    notices: list[str] = field(default_factory=list)


class _Received:
    """Pieces of one reply as they arrive, passed on to the platform's stream."""

    def __init__(self, stream: ReplyStream) -> None:
        self.stream = stream
        self.pieces: list[str] = []
        self.started = time.perf_counter()

    async def add(self, piece: str) -> None:
        if not self.pieces:
            METRICS.stage_since("generate_first_token", self.started)
        self.pieces.append(piece)
        await self.stream.delta(piece)

    def text(self) -> str:
        return "".join(self.pieces).strip()


class PromptLayer(Protocol):
    """Lines a feature adds to a turn's prompt after the persona, within the card's `growth.tokens`
    (anima/soul's learned layer). Registered on `Pipeline.prompt_layers` by the composition root."""

    async def lines(self, card: CharacterCard, message: Incoming) -> list[str]: ...


class Pipeline:
    """Turns one Incoming into one Reply. Platform-neutral: adapters call `handle` and render the stream."""

    def __init__(
        self,
        characters: CharacterLibrary,
        memory: MemoryStore,
        router: LLMRouter,
        default_character: str,
        safety: SafetyPolicy | None = None,
        memory_settings: MemorySettings | None = None,
        locks: ConversationLocks | None = None,  # with PostgreSQL, shared by every process (anima/app.py)
    ) -> None:
        self.characters = characters
        self.memory = memory
        self.router = router
        self.default_character = default_character
        self.safety = safety or SafetyPolicy()
        self.memory_settings = memory_settings or MemorySettings()
        self.keeper = MemoryKeeper(
            memory, router, self.memory_settings.summarize_every, self.memory_settings.llm_facts_every
        )
        # Features plug in here (anima/app.py registers soul growth): prompt layers are read for
        # every turn; after-turn work goes on the keeper's worker (`keeper.also`), never in a reply.
        self.prompt_layers: list[PromptLayer] = []
        self._locks = locks if locks is not None else ConversationLocks()
        self.admission = Admission.from_settings(LimitsSettings())  # backpressure; anima/app.py sets config's
        self.turns = TurnsInFlight()  # a graceful shutdown waits for these, then cuts what is left

    async def close(self) -> None:
        """Stop background memory work (call before closing the memory store)."""
        await self.keeper.close()

    def in_flight(self) -> int:
        """Messages received and not yet answered (waiting for their conversation's turn, or in work)."""
        return self._locks.in_flight

    def hold(self, message: Incoming) -> AbstractAsyncContextManager[None]:
        """The message's conversation lock, for the conversation service (anima.core.conversations),
        which claims a delivery, answers it with `reply` and marks it answered as one turn."""
        return self._locks.hold(self.key_for(message, self.character_for(message)))

    def character_for(self, message: Incoming) -> CharacterCard:
        return self.characters.get(message.character_id or self.default_character)

    def key_for(self, message: Incoming, card: CharacterCard) -> ConversationKey:
        return ConversationKey(message.platform, message.chat_id, message.user_id, card.id)

    async def greet(self, message: Incoming) -> str:
        """The character's greeting; it opens the stored history when the history is empty."""
        card = self.character_for(message)
        greeting = expand(random.choice(card.greeting), {"char": card.name, "user": message.display_name})
        key = self.key_for(message, card)
        async with self._locks.hold(key):
            conversation = await self.memory.conversation(key, message.display_name)
            if not conversation.recent:
                await self.memory.add(conversation, "assistant", greeting)
        return greeting

    async def handle(
        self, message: Incoming, stream: ReplyStream | None = None, admitted: Admitted | None = None
    ) -> Reply | None:
        """Answer one message; None when there is nothing to answer (an empty message). `admitted`:
        the place an adapter took on arrival (`admission.enter`), given back here."""
        async with self.turns.track():
            return await self._answer(message, stream, admitted)

    async def _answer(
        self, message: Incoming, stream: ReplyStream | None, admitted: Admitted | Refused | None = None
    ) -> Reply | None:
        stream = stream or DiscardStream()
        if not message.text.strip() and not message.images:
            return None
        card = self.character_for(message)
        admitted = admitted or self.admission.enter(self.key_for(message, card))
        if isinstance(admitted, Refused):  # too many waiting: the busy line once per burst, then silence
            METRICS.message_in(message.platform, card.id)
            return await answer_refused(admitted, card, message.display_name, stream)
        async with admitted, self._locks.hold(self.key_for(message, card)):
            return await self.reply(message, stream)

    async def reply(
        self, message: Incoming, stream: ReplyStream | None = None, resumed: bool = False
    ) -> Reply | None:
        """Answer one message; call it holding its conversation's lock (`hold`). `resumed`: the
        message was received before a crash and may be stored already: it is not stored twice."""
        stream = stream or DiscardStream()
        message = storable(message)
        if not message.text.strip() and not message.images:
            return None
        card = self.character_for(message)
        user_name = _speaker(message.display_name)  # a display name is untrusted text too
        METRICS.message_in(message.platform, card.id)
        key = self.key_for(message, card)
        conversation = await self.memory.conversation(key, user_name, message.bot_id, message.is_private)

        recent = tuple(conversation.recent)  # as it was when the message came (it is stored meanwhile)
        started = time.perf_counter()
        turn = await self.safety.begin(message, card, recent)
        METRICS.stage_since("safety_input", started)
        verdict = turn.input
        if verdict.action == "drop":  # flood control: no answer at all
            return None
        if verdict.action == "replace":
            reply = Reply(verdict.text, card.id, card.name, notices=turn.notices)
            await stream.finish(reply)
            METRICS.message_out(message.platform, card.id)
            return reply

        history: list[ChatMessage] = list(recent)
        stored_already = resumed and bool(history) and history[-1].role == "user"  # before a crash
        if stored_already:
            history.pop()
        started = time.perf_counter()
        # Recall reads memory as it was before this message (which it leaves out in any case); the
        # newest of the history are left out too (they are in the prompt), the message among them
        # when it was stored already.
        skip = min(len(history), 16) + int(stored_already)
        memories = await self.recall(conversation, verdict.text, card, user_name, skip)
        METRICS.stage_since("recall", started)
        # The message is stored while the reply is made, not before it: the reply never waits for
        # the database. Its write is queued before the reply's record (the same order in the
        # database), and the turn ends (the conversation's lock, the inbox's "answered": a crash
        # before then answers it again at the next start) only once it is committed, however the
        # turn ends; an LLM failure never loses it.
        saying: asyncio.Future[StoredMessage]
        if stored_already:
            saying = asyncio.get_running_loop().create_future()
            saying.set_result(conversation.recent[-1])
        else:
            saying = asyncio.ensure_future(self._store_message(conversation, verdict.text, message))
        try:
            return await self._respond(
                message, card, user_name, conversation, history, turn, memories, saying, stream
            )
        finally:
            await asyncio.shield(saying)

    async def _respond(
        self,
        message: Incoming,
        card: CharacterCard,
        user_name: str,
        conversation: ConversationState,
        history: list[ChatMessage],
        turn: TurnSafety,
        memories: list[str],
        saying: asyncio.Future[StoredMessage],
        stream: ReplyStream,
    ) -> Reply:
        """Generate, check and send the reply to an admitted message (`saying`: its write)."""
        verdict = turn.input
        stream = turn.stream(stream)  # what the platform may show while generating (safety.stream)
        learned = await self.learned(card, message)
        context = TurnContext(
            persona=_screened(message.persona, "persona"),
            chat_context="\n".join(
                _screened(line, "group line") for line in message.chat_context.splitlines()
            ),
            memories=memories,
            memory_tokens=self.memory_settings.recall_tokens,
            canary=turn.canary,
            instruction=verdict.instruction,
            soul=learned,
            soul_tokens=card.growth.tokens,
            admits=lambda lore: bool(_screened(lore, "lorebook entry")),
            images=message.images,
        )
        started = time.perf_counter()
        async with self.keeper.replying():
            generated = await self.generate(card, user_name, history, verdict.text, stream, context)
        METRICS.stage_since("generate_total", started)

        text = generated.text
        if not generated.failed:
            started = time.perf_counter()
            checked = await turn.check_output(text)
            METRICS.stage_since("safety_output", started)
            if checked.action == "regenerate":  # once, with a corrective instruction; not streamed
                retry = await self.generate(
                    card,
                    user_name,
                    history,
                    verdict.text,
                    DiscardStream(),
                    replace(context, instruction=checked.instruction),
                )
                generated = generated if retry.failed else retry
                checked = await turn.check_output(generated.text, retry=True)
            text = checked.text
        reply = Reply(
            text,
            card.id,
            card.name,
            notices=[*generated.notices, *turn.notices],
            cut=generated.cut,
            failed=generated.failed,
            backend=generated.backend,
        )
        # The reply's record is written while the reply goes out, not before it: the send never
        # waits for the database, and the turn ends (the conversation's lock, the inbox's "answered")
        # only once the record is committed, however slow or failed the send.
        storing = (
            None
            if generated.failed
            else asyncio.ensure_future(self._store_reply(conversation, text, generated.cut, saying))
        )
        started = time.perf_counter()
        try:
            await stream.finish(reply)
            METRICS.stage_since("send", started)
            METRICS.message_out(message.platform, card.id)  # out once sent, not once its record commits
        finally:
            said = await asyncio.shield(saying)
            replied = None if storing is None else await asyncio.shield(storing)
            self.keeper.after_turn(FinishedTurn(card, conversation, user_name, said, replied))
        return reply

    async def _store_message(
        self, conversation: ConversationState, text: str, message: Incoming
    ) -> StoredMessage:
        """The person's message (a mark for each picture sent with it) and its pictures, committed."""
        started = time.perf_counter()
        said = await self.memory.add(
            conversation, "user", with_pictures(text, len(message.images)), message.message_id
        )
        try:
            await self.memory.keep_pictures(conversation, said.id, message.kept)
        except MemoryStoreError as exc:  # the reply has gone out meanwhile: it costs the thumbnails alone
            METRICS.error("keep_pictures")
            log.warning("the pictures of message %d were not kept: %s", said.id, exc)
        METRICS.stage_since("store_message", started)
        return said

    async def _store_reply(
        self, conversation: ConversationState, text: str, cut: bool, saying: asyncio.Future[StoredMessage]
    ) -> StoredMessage:
        await saying  # the message first: the reply's record follows it (and its context links to it)
        started = time.perf_counter()
        replied = await self.memory.add(conversation, "assistant", text, cut=cut)
        METRICS.stage_since("store_reply", started)
        return replied

    async def write_first(self, message: Incoming, opening: str | None = None) -> Reply | None:
        """A message the character writes unprompted (anima/core/proactive.py), stored as its own:
        `opening` as it is, or one generated from the history and memories with `message.text` as
        the instruction, through the output checks. None when nothing fit to send came (the model
        failed, or the output checks would have the text changed): better silence than a bad start."""
        async with self.turns.track():
            card = self.character_for(message)
            user_name = _speaker(message.display_name)
            key = self.key_for(message, card)
            async with self._locks.hold(key):
                conversation = await self.memory.conversation(
                    key, user_name, message.bot_id, message.is_private
                )
                text = opening or await self._first_line(message, card, user_name, conversation)
                if not text:
                    return None
                await self.memory.add(conversation, "assistant", text)
            METRICS.message_out(message.platform, card.id)
            return Reply(text, card.id, card.name)

    async def _first_line(
        self, message: Incoming, card: CharacterCard, user_name: str, conversation: ConversationState
    ) -> str:
        turn = await self.safety.unprompted(message, card, conversation.recent)
        history: list[ChatMessage] = list(conversation.recent)
        lately = " ".join(m.content for m in history[-6:] if m.role == "user")  # what to remember by
        memories = await self.recall(
            conversation, lately or message.text, card, user_name, min(len(history), 16) + 1
        )
        context = TurnContext(
            memories=memories,
            memory_tokens=self.memory_settings.recall_tokens,
            canary=turn.canary,
            soul=await self.learned(card, message),
            soul_tokens=card.growth.tokens,
            admits=lambda lore: bool(_screened(lore, "lorebook entry")),
        )
        generated = await self.generate(card, user_name, history, message.text, DiscardStream(), context)
        if generated.failed or generated.cut:
            return ""
        checked = await turn.check_output(generated.text)
        return checked.text if checked.action in ("allow", "log") else ""

    async def learned(self, card: CharacterCard, message: Incoming) -> list[str]:
        """The lines the registered prompt layers add for this turn, in their order."""
        lines: list[str] = []
        for layer in self.prompt_layers:
            lines += await layer.lines(card, message)
        return lines

    async def recall(
        self,
        conversation: ConversationState,
        text: str,
        card: CharacterCard,
        user_name: str,
        skip_recent: int,
    ) -> list[str]:
        """Older turns, summaries and facts that fit this message, as dated prompt lines.

        The `skip_recent` newest messages stored are left out (the caller's: those in the prompt
        already). A database failure costs the memories, never the reply.
        """
        limit = self.memory_settings.recall_memories
        if not limit:
            return []
        speakers = {user_name.lower(): "user", card.name.lower(): "assistant"}
        try:
            found = await self.memory.recall(
                conversation, text, limit=limit, skip_recent=skip_recent, speakers=speakers
            )
        except MemoryStoreError as exc:
            METRICS.error("recall")
            log.warning("recall failed, answering without older memories: %s", exc)
            return []
        return [memory.line(user_name, card.name) for memory in found]

    async def generate(
        self,
        card: CharacterCard,
        user_name: str,
        history: list[ChatMessage],
        text: str,
        stream: ReplyStream,
        context: TurnContext = NO_CONTEXT,
    ) -> Generated:
        """Try each backend of the card's chain; stream pieces as they come; apologise if all fail."""
        chain = self.router.chain(card)
        for backend in chain:
            received = _Received(stream)
            try:
                started = time.perf_counter()
                builder = PromptBuilder(backend.counter, getattr(backend, "prompt_style", "full"))
                max_tokens = self.router.max_tokens(backend, card)
                seen, shown = _pictures_for(backend.vision, card, user_name, text, context)
                prompt = await builder.build(
                    card, user_name, history, seen, backend.context_window, max_tokens, shown
                )
                stop = _speaker_stops(user_name)
                request = self.router.request(backend, card, prompt.messages, stop=stop, user_name=user_name)
                METRICS.tokens(backend.name, "prompt", prompt.tokens)
                METRICS.stage_since("prompt", started)
                call = partial(self.router.generate, backend, request, last_resort=backend is chain[-1])
                await self.turns.unless_cut(call, received.add)
                reply = received.text()
                if not reply:
                    raise LLMError(f"{backend.name} returned an empty reply")
                # counted, not the pieces: a backend may join what arrived at once into one piece
                # (and the count is cached: the next turn's prompt counts this reply as history)
                METRICS.tokens(backend.name, "completion", await backend.counter.count(reply))
                return Generated(reply, backend.name, notices=prompt.notices)
            except (LLMError, PromptTooLarge) as exc:
                METRICS.error("llm_cut" if received.pieces else "llm_failed")
                if received.pieces:  # the stream broke off: keep what arrived, marked as cut
                    log.warning("reply from %s was cut off: %s", backend.name, exc)
                    return Generated(
                        received.text() + " …",
                        backend.name,
                        cut=True,
                        notices=["The reply was cut off before it finished."],
                    )
                log.warning("backend %s failed for %s: %s", backend.name, card.id, exc)
        METRICS.error("llm_all_failed")
        apology = expand(random.choice(card.apology), {"char": card.name, "user": user_name})
        return Generated(
            apology, failed=True, notices=["The character could not answer; your message was kept."]
        )


PICTURE_MARK = "[sent a picture]"  # how a picture reads in the stored history
NO_VISION = (
    "({{user}} sent a picture, which you cannot see. Say so in your own words, kindly, and answer "
    "what they wrote with it, if anything.)"
)


def with_pictures(text: str, pictures: int) -> str:
    """The message as it is stored: its text, and a mark for each picture sent with it."""
    marks = " ".join([PICTURE_MARK] * pictures)
    return "\n".join(part for part in (text, marks) if part)


def _pictures_for(
    vision: bool, card: CharacterCard, user_name: str, text: str, context: TurnContext
) -> tuple[str, TurnContext]:
    """What one backend is given of a message with pictures: a backend with vision sees them with
    the caption; one without gets the caption and a line saying a picture came (the card's
    `no_vision`, or ours), and no image parts."""
    if not context.images or vision:
        return text, context
    note = expand(card.no_vision or NO_VISION, {"char": card.char_name, "user": user_name})
    return "\n".join(part for part in (text, note) if part), replace(context, images=())


def _speaker_stops(user_name: str) -> list[str]:
    """Stop where a small model starts writing the user's next line ("\nLin:")."""
    return list(dict.fromkeys(f"\n{name}:" for name in (user_name, user_name.capitalize())))


def _screened(text: str, what: str) -> str:
    """Text other people wrote, for the prompt: left out whole when the injection check flags it
    (then logged), else passed on; core/prompt.py fences it and strips role markers."""
    found = find_injection(text) if text else None
    if found is None:
        return text
    log.info("left a %s out of the prompt: it looks like a prompt injection (%r)", what, found)
    return ""


def _speaker(display_name: str) -> str:
    name = speaker_name(display_name)
    return name if find_injection(name) is None else speaker_name("")


def storable(message: Incoming) -> Incoming:
    """The message with what no database stores read as U+FFFD (NUL, which PostgreSQL refuses in
    text, and lone surrogates, which are not UTF-8): one would otherwise keep the message, and every
    one after it, from being stored."""
    fields = (message.text, message.persona, message.chat_context, message.display_name)
    clean = tuple(storable_text(value) for value in fields)
    if clean == fields:
        return message
    text, persona, chat_context, display_name = clean
    return replace(message, text=text, persona=persona, chat_context=chat_context, display_name=display_name)
