"""Background memory work: LLM summaries and facts land in memory, and never hold up a reply."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from anima.app import Runtime
from anima.config import MemorySettings, Settings
from anima.core.messages import ConversationKey, Incoming
from anima.core.tokens import CachedCounter, TiktokenCounter
from anima.llm.base import GenerationRequest
from tests.conftest import REPO
from tests.fakes.llm import InstantLLM

KEY = ConversationKey("test", "dm", "lin", "aiko")
FACTS_JSON = (
    '{"facts": [{"topic": "family", "fact": "has a sister named Ana", "importance": 0.7, "date": null}]}'
)


def _settings(tmp_path: Path, summarize_every: int, llm_facts_every: int) -> Settings:
    return Settings(
        characters_dir=REPO / "characters",
        memory=MemorySettings(
            database_url=f"sqlite:///{tmp_path}/anima.db",
            summarize_every=summarize_every,
            llm_facts_every=llm_facts_every,
        ),
    )


def scripted(request: GenerationRequest) -> str:
    """The character's LLM: JSON when asked for facts, a summary when asked for one, chat otherwise."""
    instructions = request.messages[0].content
    if "Extract durable facts" in instructions:
        return FACTS_JSON
    if "Summarise the conversation" in instructions:
        return "Lin told Aiko about her sister Ana and her new job."
    return "How lovely!"


async def _say(runtime: Runtime, text: str) -> None:
    await runtime.pipeline.handle(Incoming("test", "dm", "lin", "Lin", text))


async def test_the_llm_summarises_older_talk_and_extracts_facts_in_the_background(tmp_path: Path) -> None:
    runtime = await Runtime.start(_settings(tmp_path, summarize_every=4, llm_facts_every=2))
    runtime.router.register("embedded", InstantLLM(reply=scripted))
    try:
        await _say(runtime, "My sister Ana visited me.")
        await _say(runtime, "I work at the library now.")
        await runtime.pipeline.keeper.drain()
        view = await runtime.memory.view(KEY, "Lin")
    finally:
        await runtime.close()
    assert view.summary == "Lin told Aiko about her sister Ana and her new job."
    assert "has a sister named Ana" in [fact.content for fact in view.facts]
    assert "works at the library" in [fact.content for fact in view.facts]  # the rules found this one


async def test_broken_json_from_a_weak_model_is_ignored(tmp_path: Path) -> None:
    runtime = await Runtime.start(_settings(tmp_path, summarize_every=0, llm_facts_every=1))
    runtime.router.register("embedded", InstantLLM(reply=lambda _r: '{"facts": [{"topic": "home", "fact": '))
    try:
        await _say(runtime, "I live in Lisbon.")
        await runtime.pipeline.keeper.drain()
        view = await runtime.memory.view(KEY, "Lin")
    finally:
        await runtime.close()
    assert [fact.content for fact in view.facts] == ["lives in Lisbon"]


class HeldSummaries(InstantLLM):
    """Chat replies at once; a summary streams only once `release` is set, and counts cancellations."""

    def __init__(self) -> None:
        super().__init__(reply=scripted)
        self.max_concurrency = 1  # like the embedded model: one slot
        self.vision = False
        self.counter = CachedCounter(TiktokenCounter())
        self.summary_started = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = 0

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        if "Summarise the conversation" not in request.messages[0].content:
            async for piece in super().stream(request):
                yield piece
            return
        self.summary_started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        yield scripted(request)


async def test_a_reply_never_waits_for_a_background_summary(tmp_path: Path) -> None:
    runtime = await Runtime.start(_settings(tmp_path, summarize_every=2, llm_facts_every=0))
    llm = HeldSummaries()
    runtime.router.register("embedded", llm)
    try:
        await _say(runtime, "First message.")
        async with asyncio.timeout(60):
            await llm.summary_started.wait()  # the summary now holds the model's only slot
            reply = await runtime.pipeline.handle(Incoming("test", "dm", "lin", "Lin", "Second message."))
        assert reply is not None and reply.text == "How lovely!"
        assert llm.cancelled == 1 and not llm.release.is_set()  # the summary stepped aside

        llm.release.set()
        await runtime.pipeline.keeper.drain()
        view = await runtime.memory.view(KEY, "Lin")
    finally:
        await runtime.close()
    assert view.summary == "Lin told Aiko about her sister Ana and her new job."  # retried, then stored


async def test_facts_said_just_before_shutdown_are_kept(tmp_path: Path) -> None:
    runtime = await Runtime.start(_settings(tmp_path, summarize_every=0, llm_facts_every=0))
    runtime.router.register("embedded", InstantLLM())
    await _say(runtime, "I live in Lisbon.")
    await runtime.close()  # no drain first: closing finishes the cheap background work

    reopened = await Runtime.start(_settings(tmp_path, summarize_every=0, llm_facts_every=0))
    try:
        view = await reopened.memory.view(KEY, "Lin")
    finally:
        await reopened.close()
    assert [fact.content for fact in view.facts] == ["lives in Lisbon"]


async def test_a_bot_that_is_always_replying_keeps_its_facts_and_no_queue_grows(tmp_path: Path) -> None:
    runtime = await Runtime.start(_settings(tmp_path, summarize_every=2, llm_facts_every=0))
    runtime.router.register("embedded", InstantLLM(reply=scripted))
    keeper = runtime.pipeline.keeper
    try:
        async with keeper.replying():  # someone else's reply is generated the whole time
            for text in ["My sister Ana visited me.", "I work at the library now.", "Tea?", "Cake?"]:
                await _say(runtime, text)
            await keeper.caught_up()
            view = await runtime.memory.view(KEY, "Lin")
            assert keeper.backlog() == (0, 1)  # one conversation waits for its summary, not four turns
        await keeper.drain()
        summarised = await runtime.memory.view(KEY, "Lin")
    finally:
        await runtime.close()
    assert "works at the library" in [fact.content for fact in view.facts]  # the rules did not wait
    assert view.summary is None
    assert summarised.summary == "Lin told Aiko about her sister Ana and her new job."
