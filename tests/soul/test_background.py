"""Proposals run in the background: a reply never waits for one, even while it is being made."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from anima.app import Runtime
from anima.config import Settings
from anima.llm.base import GenerationRequest
from tests.fakes.llm import InstantLLM
from tests.soul.conftest import SoulScript, is_review, say


class HeldReviews(InstantLLM):
    """Replies at once; a review waits until released, and says when one starts or is cancelled."""

    def __init__(self, script: SoulScript) -> None:
        super().__init__(reply=script.reply)
        self.review_started = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = 0

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        if is_review(request):
            self.review_started.set()
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        async for piece in super().stream(request):
            yield piece


async def test_a_reply_is_not_held_up_by_a_proposal_in_flight(
    soul_settings: Settings, script: SoulScript
) -> None:
    runtime = await Runtime.start(soul_settings)
    llm = HeldReviews(script)
    runtime.router.register("embedded", llm)
    try:
        script.queue({"kind": "habit", "text": "hums while the kettle boils", "cite": "kettle"})
        await runtime.pipeline.handle(say("The kettle is on."))
        await runtime.pipeline.handle(say("Kettle's boiling!"))
        await asyncio.wait_for(llm.review_started.wait(), 60)

        reply = await asyncio.wait_for(runtime.pipeline.handle(say("Tea?")), 60)  # never waits on the review

        assert reply is not None and reply.text == "You said: Tea?"
        assert llm.cancelled == 1  # the review stepped aside for the reply, and is asked again after it
        llm.release.set()
        await runtime.pipeline.keeper.drain(10)
        assert [p.text for p in await runtime.soul.proposals("aiko")] == ["hums while the kettle boils"]
    finally:
        await runtime.close()
