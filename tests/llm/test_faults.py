"""LLM faults end to end: the real OpenAI client against fake servers that fail, through the pipeline.

Two fake servers: "primary" (the default backend) and "backup" (its fallback). Time is compressed
(backoff in milliseconds, a sub-second first-token limit, an outage of ten messages that the test
ends); the tests assert what the person sees, never how long it took. The breaker's clock is a
manual one. bench/faults_bench.py runs the full 60-second outage and a 429 storm.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from anima.app import Runtime
from anima.characters.macros import expand
from anima.config import LLMSettings, MemorySettings, OpenAIBackend, Settings
from anima.core.messages import ConversationKey, Incoming, Reply
from anima.memory.store import MemoryStore, StoredMessage
from tests.conftest import REPO
from tests.fakes.openai_server import FakeOpenAI

REPLY = "Hello from the fake server, friend."


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def primary() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def backup() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI(reply="The backup answers instead.")
    await fake.start()
    yield fake
    await fake.stop()


def fault_settings(tmp_path: Path, primary: str, backup: str | None, **llm: object) -> Settings:
    def backend(url: str) -> OpenAIBackend:
        return OpenAIBackend(
            kind="openai", base_url=url, model="m", max_retries=2, timeout_s=5, max_concurrency=2
        )

    backends = {"primary": backend(primary)}
    if backup:
        backends["backup"] = backend(backup)
    options: dict[str, object] = {
        "retry_backoff_s": 0.01,
        "retry_backoff_max_s": 0.05,
        "max_retry_after_s": 1.0,
        "first_token_timeout_s": 10,  # generous: a cold start on a busy machine is slow, never a fault
        "breaker_failures": 0,
        **llm,
    }
    return Settings(
        characters_dir=REPO / "characters",
        default_character="aiko",
        llm=LLMSettings(
            default="primary", fallbacks=["backup"] if backup else [], backends=backends, **options
        ),  # type: ignore[arg-type]
        memory=MemorySettings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/anima.db", summarize_every=0, llm_facts_every=0
        ),
    )


@contextlib.asynccontextmanager
async def running(settings: Settings, clock: ManualClock | None = None) -> AsyncIterator[Runtime]:
    runtime = await Runtime.start(settings)
    if clock is not None:
        runtime.router.breaker.clock = clock
    try:
        yield runtime
    finally:
        await runtime.close()


def say(text: str, user: str = "u1") -> Incoming:
    return Incoming(platform="test", chat_id="c1", user_id=user, display_name="Lin", text=text)


async def ask(runtime: Runtime, text: str, user: str = "u1") -> Reply:
    reply = await runtime.pipeline.handle(say(text, user))
    assert reply is not None
    return reply


async def stored(settings: Settings) -> list[StoredMessage]:
    """The conversation as the database has it, read by a fresh store after the runtime closed."""
    memory = await MemoryStore.open(settings.database_url, settings.memory.history_messages)
    try:
        state = await memory.conversation(ConversationKey("test", "c1", "u1", "aiko"), "Lin")
        return list(state.recent)
    finally:
        await memory.close()


def apologies(runtime: Runtime) -> set[str]:
    card = runtime.characters.get("aiko")
    return {expand(line, {"char": card.name, "user": "Lin"}) for line in card.apology}


async def test_a_few_503s_are_retried_and_the_person_gets_the_real_reply(
    tmp_path: Path, primary: FakeOpenAI, backup: FakeOpenAI
) -> None:
    primary.fail_next(503, times=2)
    async with running(fault_settings(tmp_path, primary.base_url, backup.base_url)) as runtime:
        reply = await ask(runtime, "hi")
    assert (reply.text, reply.backend, reply.failed) == (REPLY, "primary", False)
    assert not backup.requests


async def test_a_429_storm_is_waited_out_when_its_retry_after_fits(
    tmp_path: Path, primary: FakeOpenAI, backup: FakeOpenAI
) -> None:
    primary.fail_next(429, times=2, retry_after=0.05)
    async with running(fault_settings(tmp_path, primary.base_url, backup.base_url)) as runtime:
        reply = await ask(runtime, "hi")
    assert (reply.text, reply.backend) == (REPLY, "primary")
    assert len(primary.requests) == 3


async def test_a_retry_after_longer_than_allowed_goes_to_the_fallback_without_waiting(
    tmp_path: Path, primary: FakeOpenAI, backup: FakeOpenAI
) -> None:
    primary.fail_next(429, times=5, retry_after=3600)
    async with running(fault_settings(tmp_path, primary.base_url, backup.base_url)) as runtime:
        reply = await ask(runtime, "hi")
    assert (reply.text, reply.backend) == (backup.reply, "backup")
    assert len(primary.requests) == 1


async def test_a_backend_that_hangs_before_its_first_token_gives_way_to_the_fallback(
    tmp_path: Path, primary: FakeOpenAI, backup: FakeOpenAI
) -> None:
    primary.stall = True
    settings = fault_settings(tmp_path, primary.base_url, backup.base_url, first_token_timeout_s=1.0)
    async with running(settings) as runtime:
        reply = await ask(runtime, "hi")
    assert (reply.text, reply.backend) == (backup.reply, "backup")


async def test_a_server_refusing_connections_gives_way_to_the_fallback(
    tmp_path: Path, primary: FakeOpenAI, backup: FakeOpenAI
) -> None:
    await primary.refuse_connections()
    async with running(fault_settings(tmp_path, primary.base_url, backup.base_url)) as runtime:
        reply = await ask(runtime, "hi")
    assert (reply.text, reply.backend) == (backup.reply, "backup")


async def test_a_refused_key_is_not_retried_and_the_fallback_answers(
    tmp_path: Path, primary: FakeOpenAI, backup: FakeOpenAI
) -> None:
    primary.fail_next(401)
    async with running(fault_settings(tmp_path, primary.base_url, backup.base_url)) as runtime:
        reply = await ask(runtime, "hi")
    assert reply.backend == "backup"
    assert len(primary.requests) == 1


async def test_a_stream_that_breaks_off_keeps_its_text_marked_as_cut_and_stored_so(
    tmp_path: Path, primary: FakeOpenAI, backup: FakeOpenAI
) -> None:
    primary.break_after = 3
    settings = fault_settings(tmp_path, primary.base_url, backup.base_url)
    async with running(settings) as runtime:
        reply = await ask(runtime, "hi")
    assert reply.cut and not reply.failed
    assert reply.text == "Hello from the …"
    assert "The reply was cut off before it finished." in reply.notices
    assert len(primary.requests) == 1 and not backup.requests  # never asked again: no doubled text
    last = (await stored(settings))[-1]
    assert (last.role, last.content, last.cut) == ("assistant", reply.text, True)


async def test_when_every_backend_fails_the_character_apologises_and_keeps_the_message(
    tmp_path: Path, primary: FakeOpenAI, backup: FakeOpenAI
) -> None:
    primary.outage(60)
    backup.outage(60)
    settings = fault_settings(tmp_path, primary.base_url, backup.base_url)
    async with running(settings) as runtime:
        reply = await ask(runtime, "are you there?")
    assert reply.failed and reply.text in apologies(runtime)
    assert "your message was kept" in " ".join(reply.notices)
    assert [(m.role, m.content) for m in await stored(settings)] == [("user", "are you there?")]


async def test_an_outage_is_survived_with_apologies_then_answers_again(
    tmp_path: Path, primary: FakeOpenAI
) -> None:
    clock = ManualClock()
    settings = fault_settings(tmp_path, primary.base_url, None, breaker_failures=3, breaker_cooldown_s=30)
    primary.outage(3600)  # ended by the test after ten messages; the bench runs a timed 60 s one
    async with running(settings, clock) as runtime:
        during = [await ask(runtime, f"message {i}", user=f"u{i}") for i in range(10)]
        asked_during_outage = len(primary.requests)
        primary.end_outage()  # the breaker's cooldown has not passed: the only backend is asked anyway
        after = [await ask(runtime, f"back {i}", user=f"u{i}") for i in range(2)]
    assert all(r.failed and r.text in apologies(runtime) for r in during)
    # Three failed replies of three tries each open the breaker; with no fallback the backend is
    # still asked, once per message, so the first message after the outage is answered.
    assert asked_during_outage == 3 * 3 + 7
    assert [(r.text, r.failed) for r in after] == [(REPLY, False)] * 2


async def test_a_failing_backend_is_skipped_until_its_cooldown_passes(
    tmp_path: Path, primary: FakeOpenAI, backup: FakeOpenAI
) -> None:
    clock = ManualClock()
    settings = fault_settings(
        tmp_path, primary.base_url, backup.base_url, breaker_failures=2, breaker_cooldown_s=10
    )
    primary.outage(60)
    async with running(settings, clock) as runtime:
        for i in range(2):
            await ask(runtime, f"opening {i}")
        asked = len(primary.requests)
        skipped = await ask(runtime, "skipped")
        assert len(primary.requests) == asked and skipped.backend == "backup"
        clock.now += 10
        await ask(runtime, "tried again")
    assert len(primary.requests) > asked


async def test_after_the_cooldown_one_message_probes_while_the_others_go_to_the_fallback(
    tmp_path: Path, primary: FakeOpenAI, backup: FakeOpenAI
) -> None:
    clock = ManualClock()
    settings = fault_settings(
        tmp_path,
        primary.base_url,
        backup.base_url,
        breaker_failures=2,
        breaker_cooldown_s=10,
        first_token_timeout_s=1,
    )
    primary.outage(3600)
    async with running(settings, clock) as runtime:
        for i in range(2):
            await ask(runtime, f"opening {i}", user=f"o{i}")
        primary.end_outage()
        primary.stall = True  # the probe hangs, so the others arrive while it is out
        primary.request_seen.clear()
        asked = len(primary.requests)
        clock.now += 10
        probe = asyncio.create_task(ask(runtime, "probe", user="p"))
        await asyncio.wait_for(primary.request_seen.wait(), timeout=60)
        others = await asyncio.gather(*(ask(runtime, "meanwhile", user=f"m{i}") for i in range(3)))
        await probe
    assert [r.backend for r in others] == ["backup"] * 3
    assert len(primary.requests) == asked + 1


async def test_no_more_replies_reach_a_backend_at_once_than_its_max_concurrency(
    tmp_path: Path, primary: FakeOpenAI
) -> None:
    primary.chunk_delay_s = 0.01
    async with running(fault_settings(tmp_path, primary.base_url, None)) as runtime:
        replies = await asyncio.gather(*(runtime.pipeline.handle(say("hi", user=f"u{i}")) for i in range(6)))
    assert all(r is not None and r.text == REPLY for r in replies)
    assert primary.peak_in_flight == 2
