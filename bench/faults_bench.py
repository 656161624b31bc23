"""LLM faults under steady traffic: a 60-second outage (with and without the breaker) and a 429 storm.

Simulated people (each sends a message, reads the reply, pauses a second, sends the next) talk to
the real pipeline, whose backends are the real OpenAI client against fake servers that fail on
schedule. Reported: replies answered, apologised, cut; reply time; calls that reached the failing
server; and how long after the outage ended the first real answer came.

Run: .venv/bin/python -m bench faults_bench   (about three minutes)
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from anima.app import Runtime
from anima.config import (
    ConversationSettings,
    LLMSettings,
    MemorySettings,
    OpenAIBackend,
    SafetySettings,
    Settings,
)
from anima.core.messages import Incoming
from bench.report import record
from tests.fakes.openai_server import FakeOpenAI

REPO = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m bench faults_bench"
PEOPLE = 5
PAUSE_S = 1.0


@dataclass
class Outcome:
    """Replies to messages sent during the fault, and (`after_*`) to those sent after it ended."""

    answered: int = 0
    by_fallback: int = 0
    apologised: int = 0
    cut: int = 0
    after_answered: int = 0
    after_apologised: int = 0
    seconds: list[float] = field(default_factory=list)  # reply times during the fault
    first_answer_after_end_s: float | None = None
    failing_server_calls: int = 0  # during the fault
    retries: int = 0
    skipped: int = 0

    @property
    def sent(self) -> int:
        return self.answered + self.apologised

    def p(self, q: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def settings_for(tmp: str, primary: str, backup: str | None, breaker: bool) -> Settings:
    backends = {"primary": OpenAIBackend(kind="openai", base_url=primary, model="m")}
    if backup:
        backends["backup"] = OpenAIBackend(kind="openai", base_url=backup, model="m")
    return Settings(
        characters_dir=REPO / "characters",
        default_character="aiko",
        llm=LLMSettings(
            default="primary",
            fallbacks=["backup"] if backup else [],
            backends=backends,  # type: ignore[arg-type]
            breaker_failures=3 if breaker else 0,
        ),
        memory=MemorySettings(
            database_url=f"sqlite+aiosqlite:///{tmp}/bench.db", summarize_every=0, llm_facts_every=0
        ),
        conversation=ConversationSettings(coalesce_ms=0),  # one reply per message, as counted
        safety=SafetySettings(flood_messages=1_000_000),
    )


async def traffic(runtime: Runtime, failing: FakeOpenAI, fault_s: float, after_s: float) -> Outcome:
    """After one warm-up message, the fault (as `failing` is set up) starts; PEOPLE people talk through
    it and `after_s` beyond it."""
    outcome = Outcome()
    await runtime.pipeline.handle(
        Incoming("bench", "chat", "warm", "Lin", "hello")
    )  # a cold start is no fault
    failing.requests.clear()
    failing.request_times.clear()
    failing.outage(fault_s, failing.outage_status, failing.outage_share, failing.outage_retry_after)
    loop = asyncio.get_running_loop()
    ends_at = loop.time() + fault_s
    stop_at = ends_at + after_s

    async def person(n: int) -> None:
        i = 0
        while loop.time() < stop_at:
            started = loop.time()
            message = Incoming("bench", "chat", f"p{n}", "Lin", f"message {i}: still there?")
            reply = await runtime.pipeline.handle(message)
            i += 1
            assert reply is not None
            if started >= ends_at:
                outcome.after_answered += not reply.failed
                outcome.after_apologised += reply.failed
            elif reply.failed:
                outcome.apologised += 1
            else:
                outcome.answered += 1
                outcome.cut += reply.cut
                outcome.by_fallback += reply.backend != "primary"
            if started < ends_at:
                outcome.seconds.append(loop.time() - started)
            recovered = reply.backend == "primary" and loop.time() >= ends_at
            if recovered and outcome.first_answer_after_end_s is None:
                outcome.first_answer_after_end_s = loop.time() - ends_at
            await asyncio.sleep(PAUSE_S)  # a person reading and typing

    await asyncio.gather(*(person(n) for n in range(PEOPLE)))
    outcome.failing_server_calls = sum(1 for t in failing.request_times if t < ends_at)
    outcome.retries, outcome.skipped = runtime.router.stats.retries, runtime.router.stats.skipped
    return outcome


async def outage(seconds: float, after_s: float, breaker: bool) -> Outcome:
    """The only backend answers 503 to everything for `seconds`."""
    server = FakeOpenAI(reply="Here I am.")
    await server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            runtime = await Runtime.start(settings_for(tmp, server.base_url, None, breaker))
            try:
                server.outage_status = 503
                return await traffic(runtime, server, seconds, after_s)
            finally:
                await runtime.close()
    finally:
        await server.stop()


async def storm(seconds: float, after_s: float) -> Outcome:
    """The primary answers 429 with Retry-After: 1 to 70% of requests for `seconds`; a backup is healthy."""
    primary, backup = FakeOpenAI(reply="Here I am."), FakeOpenAI(reply="The backup is here.")
    await primary.start()
    await backup.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            runtime = await Runtime.start(settings_for(tmp, primary.base_url, backup.base_url, breaker=True))
            try:
                primary.outage_status, primary.outage_share, primary.outage_retry_after = 429, 0.7, 1
                return await traffic(runtime, primary, seconds, after_s)
            finally:
                await runtime.close()
    finally:
        await primary.stop()
        await backup.stop()


def row(name: str, o: Outcome) -> str:
    recovered = f"{o.first_answer_after_end_s:.1f}" if o.first_answer_after_end_s is not None else "never"
    return (
        f"| {name} | {o.sent} | {o.answered} ({o.by_fallback} by fallback) | {o.apologised} | {o.cut} "
        f"| {o.after_answered} / {o.after_apologised} "
        f"| {o.p(0.5):.2f} / {o.p(0.99):.2f} | {o.failing_server_calls} | {o.retries} / {o.skipped} "
        f"| {recovered} |"
    )


async def main(outage_s: float = 60, after_s: float = 20, storm_s: float = 20) -> None:
    logging.disable(logging.WARNING)  # every failed call logs a warning; the table says it better
    print(f"command: {COMMAND}")
    print(f"{PEOPLE} people, each: send, read the reply, pause {PAUSE_S:g} s; default retries and breaker\n")
    with_breaker = await outage(outage_s, after_s, breaker=True)
    without = await outage(outage_s, after_s, breaker=False)
    storm_outcome = await storm(storm_s, 5)
    print(
        "| fault | replies during it | answered | apologised | cut | after it: answered / apologised "
        "| reply s p50 / p99 | calls to the failing server | retries / skipped | first answer after it, s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(row(f"503 outage {outage_s:g} s, breaker on", with_breaker))
    print(row(f"503 outage {outage_s:g} s, breaker off", without))
    print(row(f"429 storm {storm_s:g} s (70%, Retry-After 1), fallback", storm_outcome))
    record(
        "60 s outage: replies apologised / sent",
        f"{with_breaker.apologised}/{with_breaker.sent}",
        "",
        COMMAND,
    )
    record(
        "60 s outage: calls to the failing server, breaker on / off",
        f"{with_breaker.failing_server_calls}/{without.failing_server_calls}",
        "",
        COMMAND,
    )
    if with_breaker.first_answer_after_end_s is not None:
        record(
            "60 s outage: first real answer after it ended",
            with_breaker.first_answer_after_end_s,
            "s",
            COMMAND,
        )
    record(
        "429 storm: replies answered / sent", f"{storm_outcome.answered}/{storm_outcome.sent}", "", COMMAND
    )


if __name__ == "__main__":
    started = time.perf_counter()
    asyncio.run(main())
    print(f"({time.perf_counter() - started:.0f} s)")
