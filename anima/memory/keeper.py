"""Background memory work after each turn: facts by rules, then summaries and facts by the LLM.

Nothing here is in a reply's path. The pipeline hands each finished turn to `after_turn` (a queue
put) and wraps generation in `replying()`: LLM work waits until no reply is being generated, and a
reply that starts cancels LLM work in flight (it is tried again later), because the embedded model
has one slot and a summary queued ahead of a reply would delay it by seconds. The LLM work waits
on a worker of its own, one entry per conversation (its latest turn, and how many turns it
stands for): a bot that is always replying never gets to it, and then neither the cheap work of
later turns (facts by rules, vectors) stops nor does a queue of turns grow without end.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from anima.characters.card import CharacterCard
from anima.core.messages import ChatMessage
from anima.errors import AnimaError
from anima.llm.base import GenerationRequest
from anima.llm.router import LLMRouter
from anima.memory.facts import extract_facts, facts_from_llm
from anima.memory.models import utcnow
from anima.memory.store import ConversationState, MemoryStore, StoredMessage

log = logging.getLogger(__name__)
QUEUE_LIMIT = 10_000  # turns waiting for background work; beyond it LLM work is skipped, rules still run
LLM_ATTEMPTS = 3
MESSAGE_CHARS = 600  # each message is cut to this in a transcript for the LLM

SUMMARY_INSTRUCTIONS = (
    "You keep {char}'s memory of conversations with {user}. Summarise the conversation below in at most "
    "five sentences, in the third person. Keep names, places, dates, plans, events and feelings. "
    "Write only the summary."
)
FACT_INSTRUCTIONS = (
    "Extract durable facts that {user} states about themself in the conversation below: name, where they "
    "live, job, family, friends, pets, likes and dislikes, plans with dates. Answer with JSON only, like "
    '{{"facts": [{{"topic": "home", "fact": "lives in Berlin", "importance": 0.8, "date": null}}]}}. '
    "Topics name, home, job and birthday hold one value each. date is YYYY-MM-DD or null. "
    'With no such facts, answer {{"facts": []}}.'
)


@dataclass(frozen=True)
class FinishedTurn:
    """One answered message, handed to the keeper for background work (facts, summaries, hooks)."""

    card: CharacterCard
    state: ConversationState
    user_name: str
    said: StoredMessage  # the user's message
    replied: StoredMessage | None


class AfterTurn(Protocol):
    """Background work a feature registers on the keeper (`keeper.also`), run after memory's own."""

    async def after_turn(self, turn: FinishedTurn) -> None: ...


class MemoryKeeper:
    """One background worker per runtime; `close()` stops it (unfinished LLM work is dropped)."""

    def __init__(
        self,
        memory: MemoryStore,
        router: LLMRouter | None,
        summarize_every: int = 40,
        llm_facts_every: int = 10,
    ) -> None:
        self.memory = memory
        self.router = router
        self.summarize_every = summarize_every
        self.llm_facts_every = llm_facts_every
        self._turns: asyncio.Queue[FinishedTurn] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._replies = 0
        self._no_reply = asyncio.Event()
        self._no_reply.set()
        self._llm_job: asyncio.Task[str] | None = None
        self._since_facts: dict[int, int] = {}
        # messages since the last summary, per conversation, counted here so that a turn does not
        # cost a query on the database's one writer thread; re-read when the count says "due"
        self._unsummarised: dict[int, int] = {}
        self._closing = False
        # conversation → (its latest turn waiting for LLM work, how many turns that stands for)
        self._llm_due: OrderedDict[int, tuple[FinishedTurn, int]] = OrderedDict()
        self._thinker: asyncio.Task[None] | None = None
        self._thought = asyncio.Event()  # set while no LLM work is due or running
        self._thought.set()
        # more LLM work per finished turn (anima/soul's proposals), after memory's own, off the reply path
        self.also: list[AfterTurn] = []

    def after_turn(self, turn: FinishedTurn) -> None:
        """Queue a finished turn for background work; returns at once."""
        if self._turns.qsize() >= QUEUE_LIMIT:
            log.warning("memory keeper is %d turns behind; skipping LLM work for this one", QUEUE_LIMIT)
            turn = FinishedTurn(turn.card, turn.state, turn.user_name, turn.said, None)
        self._turns.put_nowait(turn)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._work())

    @asynccontextmanager
    async def replying(self) -> AsyncIterator[None]:
        """Held while a reply is generated: background LLM work steps aside."""
        self._replies += 1
        self._no_reply.clear()
        if self._llm_job is not None and not self._llm_job.done():
            self._llm_job.cancel()
        try:
            yield
        finally:
            self._replies -= 1
            if self._replies == 0:
                self._no_reply.set()

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Wait until every queued turn is processed (tests, benchmarks, shutdown)."""
        async with asyncio.timeout(timeout_s):
            await self._turns.join()
            await self._thought.wait()

    async def caught_up(self, timeout_s: float = 30.0) -> None:
        """Wait until every queued turn's work by rules and vectors is done (its LLM work may wait)."""
        async with asyncio.timeout(timeout_s):
            await self._turns.join()

    def backlog(self) -> tuple[int, int]:
        """Turns queued for background work, and conversations whose LLM work waits."""
        return self._turns.qsize(), len(self._llm_due)

    async def close(self, grace_s: float = 5.0) -> None:
        """Finish the cheap work still queued (rule facts, vectors) within `grace_s`, skipping LLM
        work, then stop."""
        self._closing = True
        if self._llm_job is not None and not self._llm_job.done():
            self._llm_job.cancel()
        if self._worker is not None:
            try:
                await self.drain(grace_s)
            except TimeoutError:
                log.warning("memory keeper stopped with %d turns unprocessed", self._turns.qsize())
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        if self._thinker is not None:
            self._thinker.cancel()
            await asyncio.gather(self._thinker, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            turn = await self._turns.get()
            try:
                await self._keep(turn)
            except AnimaError as exc:  # a database or LLM failure: log it, keep the worker alive
                log.warning("background memory work failed for conversation %d: %s", turn.state.id, exc)
            finally:
                self._turns.task_done()

    async def _keep(self, turn: FinishedTurn) -> None:
        if self.memory.is_forgotten(turn.state):  # forgotten since the turn: nothing more about them
            return
        facts = extract_facts(turn.said.content, turn.said.created_at or utcnow())
        if facts and turn.said.id:
            await self.memory.remember_facts(
                turn.state, facts, "rules", turn.said.id, at=turn.said.created_at
            )
        await self.memory.embed_pending(turn.state)  # vector recall only; a no-op without it
        if turn.replied is None or self.router is None or self._closing:
            return
        _, turns = self._llm_due.pop(turn.state.id, (turn, 0))
        self._llm_due[turn.state.id] = (turn, turns + 1)
        self._thought.clear()
        if self._thinker is None or self._thinker.done():
            self._thinker = asyncio.get_running_loop().create_task(self._think())

    async def _think(self) -> None:
        """The LLM work of the conversations that have some due, oldest first."""
        try:
            while self._llm_due:
                _, (turn, turns) = self._llm_due.popitem(last=False)
                try:
                    await self._llm_work(turn, turns)
                except AnimaError as exc:  # a database or LLM failure: log it, keep the worker alive
                    log.warning("background LLM work failed for conversation %d: %s", turn.state.id, exc)
        finally:
            self._thought.set()

    async def _llm_work(self, turn: FinishedTurn, turns: int) -> None:
        """Summaries, facts by the LLM and the features' work for `turns` turns of one conversation,
        the latest of which is `turn`."""
        if self.memory.is_forgotten(turn.state) or self._closing:
            return
        if self.summarize_every:
            await self._summarize(turn, turns)
        if self.llm_facts_every:
            count = self._since_facts.get(turn.state.id, 0) + turns
            self._since_facts[turn.state.id] = count % self.llm_facts_every
            if count >= self.llm_facts_every:
                await self._extract_facts(turn)
        for work in self.also:
            for _ in range(turns):  # each turn counts (a feature keeps its own cadence)
                if self.memory.is_forgotten(turn.state):  # forgotten while the LLM worked
                    return
                await work.after_turn(turn)

    async def _summarize(self, turn: FinishedTurn, turns: int = 1) -> None:
        known = self._unsummarised.get(turn.state.id)
        if known is not None and known + 2 * turns < self.summarize_every:  # a turn: a message and a reply
            self._unsummarised[turn.state.id] = known + 2 * turns
            return
        pending = await self.memory.unsummarised(turn.state, self.summarize_every)
        self._unsummarised[turn.state.id] = len(pending)
        if len(pending) < self.summarize_every:
            return
        instructions = SUMMARY_INSTRUCTIONS.format(char=turn.card.name, user=turn.user_name)
        summary = await self.ask(turn.card, instructions, _transcript(pending, turn), 200)
        if summary.strip():
            await self.memory.add_summary(turn.state, pending, summary.strip())
            self._unsummarised.pop(turn.state.id, None)

    async def _extract_facts(self, turn: FinishedTurn) -> None:
        recent = list(turn.state.recent)[-2 * self.llm_facts_every :]
        instructions = FACT_INSTRUCTIONS.format(user=turn.user_name)
        answer = await self.ask(turn.card, instructions, _transcript(recent, turn), 300)
        facts = facts_from_llm(answer)
        if facts:
            await self.memory.remember_facts(turn.state, facts, "llm", turn.said.id or None)

    async def ask(self, card: CharacterCard, instructions: str, transcript: str, max_tokens: int) -> str:
        """One non-streamed answer from the card's first backend, only while no reply is generated
        (a reply that starts cancels it; it is asked again, up to LLM_ATTEMPTS times)."""
        assert self.router is not None
        backend = self.router.chain(card)[0]
        budget_chars = max(backend.context_window - max_tokens - 200, 200) * 3  # ~3 characters a token
        messages = [ChatMessage("system", instructions), ChatMessage("user", transcript[-budget_chars:])]
        request = GenerationRequest(messages, max_tokens=min(max_tokens, backend.max_tokens), temperature=0.2)
        for _ in range(LLM_ATTEMPTS):
            await self._no_reply.wait()
            if self._closing:
                return ""
            pieces: list[str] = []
            self._llm_job = asyncio.get_running_loop().create_task(
                _collect(self.router.generate, backend, request, pieces)
            )
            await asyncio.wait({self._llm_job})
            if not self._llm_job.cancelled():
                return self._llm_job.result()  # raises the LLMError, if any
        return ""


async def _collect(
    generate: Callable[..., Awaitable[None]], backend: object, request: GenerationRequest, pieces: list[str]
) -> str:
    async def add(piece: str) -> None:
        pieces.append(piece)

    await generate(backend, request, add)
    return "".join(pieces)


def _transcript(messages: list[StoredMessage], turn: FinishedTurn) -> str:
    lines = []
    for message in messages:
        who = turn.user_name if message.role == "user" else turn.card.name
        date = f"[{message.created_at:%Y-%m-%d}] " if message.created_at else ""
        lines.append(f"{date}{who}: {message.content[:MESSAGE_CHARS]}")
    return "\n".join(lines)
