"""The message pipeline: ordering, concurrency, failures and fallbacks, as a user would see them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from anima.app import Runtime
from anima.config import LLMSettings, Settings
from anima.core.messages import Incoming, Reply
from anima.errors import LLMError, NotDelivered
from anima.llm.base import GenerationRequest
from tests.fakes.llm import InstantLLM

LIN = Incoming(platform="test", chat_id="chat", user_id="lin", display_name="Lin", text="hi")


def say(text: str, user: str = "lin", chat: str = "chat") -> Incoming:
    return replace(LIN, text=text, user_id=user, display_name=user.title(), chat_id=chat)


async def stored(runtime: Runtime, message: Incoming) -> list[tuple[str, str]]:
    key = runtime.pipeline.key_for(message, runtime.pipeline.character_for(message))
    conversation = await runtime.memory.conversation(key, message.display_name)
    return [(m.role, m.content) for m in conversation.recent]


class RecordingStream:
    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.final: Reply | None = None

    async def delta(self, text: str) -> None:
        self.pieces.append(text)

    async def finish(self, reply: Reply) -> None:
        self.final = reply


class GatedLLM(InstantLLM):
    """Holds every call until released, counting how many are in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most_in_flight = 0
        self.started = asyncio.Condition()
        self.release = asyncio.Event()

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        async with self.started:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.started.notify_all()
        try:
            await self.release.wait()
            async for piece in super().stream(request):
                yield piece
        finally:
            self.in_flight -= 1

    async def wait_in_flight(self, n: int) -> None:
        async with asyncio.timeout(60), self.started:
            await self.started.wait_for(lambda: self.in_flight >= n)


async def test_a_reply_streams_in_pieces_and_is_delivered_whole(runtime: Runtime) -> None:
    runtime.pipeline.safety.settings.stream["general"] = "raw"  # every piece as it comes (anima/safety)
    stream = RecordingStream()
    reply = await runtime.pipeline.handle(say("tell me a story"), stream)
    assert len(stream.pieces) == 6
    assert "".join(stream.pieces) == "You said: tell me a story"
    assert stream.final == reply and reply is not None and reply.character_name == "Aiko"


async def test_messages_of_one_conversation_are_answered_in_order(
    runtime: Runtime, instant_llm: InstantLLM
) -> None:
    instant_llm.delay_s = 0.001
    texts = [f"message {i}" for i in range(8)]
    replies = await asyncio.gather(*(runtime.pipeline.handle(say(t)) for t in texts))
    assert [r.text for r in replies if r] == [f"You said: {t}" for t in texts]
    expected = [turn for t in texts for turn in (("user", t), ("assistant", f"You said: {t}"))]
    assert await stored(runtime, say("")) == expected
    # each reply saw the previous exchange in its history
    assert instant_llm.requests[3].messages[-2].content == "You said: message 2"


async def test_different_conversations_are_answered_concurrently(runtime: Runtime) -> None:
    gated = GatedLLM()
    runtime.router.register("embedded", gated)
    tasks = [asyncio.create_task(runtime.pipeline.handle(say("hi", user=f"u{i}"))) for i in range(3)]
    await gated.wait_in_flight(3)  # all three are generating at the same time
    gated.release.set()
    assert all(r and r.text == "You said: hi" for r in await asyncio.gather(*tasks))


async def test_a_global_limit_bounds_concurrent_llm_calls(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    runtime = await Runtime.start(settings.model_copy(update={"llm": LLMSettings(max_concurrency=2)}))
    gated = GatedLLM()
    runtime.router.register("embedded", gated)
    try:
        tasks = [asyncio.create_task(runtime.pipeline.handle(say("hi", user=f"u{i}"))) for i in range(5)]
        await gated.wait_in_flight(2)
        for _ in range(20):  # give the other three every chance to (wrongly) start
            await asyncio.sleep(0)
        assert gated.in_flight == 2
        gated.release.set()
        await asyncio.gather(*tasks)
        assert gated.most_in_flight == 2
    finally:
        await runtime.close()


async def test_an_unreachable_llm_gets_an_in_character_apology_and_keeps_the_message(
    runtime: Runtime, instant_llm: InstantLLM
) -> None:
    instant_llm.fail_with = "connection refused"
    reply = await runtime.pipeline.handle(say("are you there?"))
    assert reply is not None and reply.failed
    assert (
        reply.text
        == "*Aiko blinks, lost for words* Sorry Lin, my thoughts drifted away. Could you say that again?"
    )
    assert reply.notices == ["The character could not answer; your message was kept."]
    assert await stored(runtime, say("")) == [("user", "are you there?")]


async def test_a_failing_backend_falls_back_to_the_next_in_the_chain(settings) -> None:  # type: ignore[no-untyped-def]
    llm = LLMSettings.model_validate(
        {
            "default": "first",
            "fallbacks": ["second"],
            "backends": {"first": {"kind": "embedded"}, "second": {"kind": "embedded"}},
        }
    )
    runtime = await Runtime.start(settings.model_copy(update={"llm": llm}))
    first, second = InstantLLM("first"), InstantLLM("second", reply=lambda _r: "Second here.")
    first.fail_with = "HTTP 503"
    runtime.router.register("first", first)
    runtime.router.register("second", second)
    try:
        reply = await runtime.pipeline.handle(say("hello"))
        assert reply is not None and (reply.text, reply.backend, reply.failed) == (
            "Second here.",
            "second",
            False,
        )
    finally:
        await runtime.close()


class BreakingLLM(InstantLLM):
    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        yield "I was saying"
        yield " that"
        raise LLMError("connection reset")


async def test_a_stream_that_breaks_off_is_kept_and_marked_as_cut(runtime: Runtime) -> None:
    runtime.router.register("embedded", BreakingLLM())
    reply = await runtime.pipeline.handle(say("go on"))
    assert reply is not None and reply.cut and not reply.failed
    assert reply.text == "I was saying that …"
    assert reply.notices == ["The reply was cut off before it finished."]
    assert (await stored(runtime, say("")))[-1] == ("assistant", "I was saying that …")


async def test_an_empty_message_gets_no_reply_and_stores_nothing(
    runtime: Runtime, instant_llm: InstantLLM
) -> None:
    assert await runtime.pipeline.handle(say("   ")) is None
    assert instant_llm.requests == []
    assert await stored(runtime, say("")) == []


async def test_the_greeting_opens_the_history_once(runtime: Runtime) -> None:
    first = await runtime.pipeline.greet(say(""))
    await runtime.pipeline.greet(say(""))
    assert first in (
        "Hi Lin! I just made a pot of jasmine tea. How was your day?",
        "Oh, Lin, there you are! Come sit, tell me everything.",
    )
    assert await stored(runtime, say("")) == [("assistant", first)]


async def test_a_reply_that_runs_on_into_the_users_lines_is_cut(
    runtime: Runtime, instant_llm: InstantLLM
) -> None:
    instant_llm.reply = lambda _r: "Sure, tea sounds lovely!\nLin: and then I said"
    reply = await runtime.pipeline.handle(say("tea?"))
    assert reply is not None and reply.text == "Sure, tea sounds lovely!"
    assert instant_llm.requests[0].stop == ["\nLin:"]


async def test_the_card_chooses_sampling_settings(runtime: Runtime, instant_llm: InstantLLM) -> None:
    await runtime.pipeline.handle(replace(say("Any swords?"), character_id="grimble"))
    request = instant_llm.requests[0]
    assert (request.temperature, request.max_tokens) == (0.6, 60)
    assert request.messages[0].content.startswith("You are Grimble.")


async def committed(runtime: Runtime) -> list[tuple[str, str]]:
    """The messages committed to the database, in order (read on the store's one SQLite writer
    thread, so behind every write already handed to it; reads have a thread of their own)."""
    rows = await runtime.memory.run(
        lambda conn: conn.exec_driver_sql("SELECT role, content FROM messages ORDER BY id").all()
    )
    return [(role, content) for role, content in rows]


class HeldSend(RecordingStream):
    """A platform that takes its time with the final send, until released; or refuses it."""

    def __init__(self, runtime: Runtime, refuse: bool = False, busy: threading.Event | None = None) -> None:
        super().__init__()
        self.runtime, self.refuse, self.busy = runtime, refuse, busy
        self.sending, self.release = asyncio.Event(), asyncio.Event()
        self.committed_at_first_piece: list[tuple[str, str]] | None = None
        self.other_write: asyncio.Future[object] | None = None

    async def delta(self, text: str) -> None:
        if self.committed_at_first_piece is None:
            self.committed_at_first_piece = await committed(self.runtime)
            if self.busy is not None:  # another write holds the database's one thread until `busy` is set
                busy = self.busy
                self.other_write = asyncio.ensure_future(self.runtime.memory.run(lambda _: busy.wait(10)))
        await super().delta(text)

    async def finish(self, reply: Reply) -> None:
        self.sending.set()
        await self.release.wait()
        if self.refuse:
            raise NotDelivered("the platform is unreachable")
        await super().finish(reply)


async def test_the_message_is_written_before_the_reply_starts(runtime: Runtime) -> None:
    # handed to the database's one writer before the first piece, so committed ahead of anything
    # written after it (the reply's record)
    stream = HeldSend(runtime)
    stream.release.set()
    await runtime.pipeline.handle(say("remember the lighthouse"), stream)
    assert stream.committed_at_first_piece == [("user", "remember the lighthouse")]


async def test_the_replys_record_is_committed_while_a_slow_send_is_still_going(runtime: Runtime) -> None:
    stream = HeldSend(runtime)
    turn = asyncio.create_task(runtime.pipeline.handle(say("tea?"), stream))
    await stream.sending.wait()
    assert await committed(runtime) == [("user", "tea?"), ("assistant", "You said: tea?")]
    assert not turn.done()  # the turn (and the conversation's lock) lasts until the send ends
    stream.release.set()
    reply = await turn
    assert stream.final == reply


async def test_the_final_send_does_not_wait_for_the_database(runtime: Runtime) -> None:
    busy = threading.Event()
    stream = HeldSend(runtime, busy=busy)
    stream.release.set()
    turn = asyncio.create_task(runtime.pipeline.handle(say("tea?"), stream))
    try:
        async with asyncio.timeout(5):
            await stream.sending.wait()  # the reply goes out while its record waits for the database
        assert not turn.done()
    finally:
        busy.set()
    await turn
    assert await committed(runtime) == [("user", "tea?"), ("assistant", "You said: tea?")]


async def test_a_reply_the_platform_refused_is_still_remembered(runtime: Runtime) -> None:
    stream = HeldSend(runtime, refuse=True)
    stream.release.set()
    with pytest.raises(NotDelivered):
        await runtime.pipeline.handle(say("tea?"), stream)
    assert await committed(runtime) == [("user", "tea?"), ("assistant", "You said: tea?")]


async def test_both_sides_of_a_turn_survive_a_restart(settings: Settings, instant_llm: InstantLLM) -> None:
    first = await Runtime.start(settings)
    first.router.register("embedded", instant_llm)
    await first.pipeline.handle(say("my cat is called Miso"))
    await first.close()
    again = await Runtime.start(settings)
    try:
        assert await stored(again, say("")) == [
            ("user", "my cat is called Miso"),
            ("assistant", "You said: my cat is called Miso"),
        ]
    finally:
        await again.close()
