"""Soul growth: a simulated month of conversations, what proposing costs, and that it never delays a reply.

Run: .venv/bin/python -m bench soul_bench
A growing Aiko (auto mode for habits and opinions, at most 2 a day; backstory and relationships wait
for the owner) talks for 30 simulated days with three people. A scripted model proposes what their
conversations show, now and then something harmful, private or already known; the owner approves
or rejects the waiting changes each evening and rolls one back. Then the same messages are answered
with growth off and with a slow proposal model (0.3 s a review): reply latency must not change.
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from anima.app import Runtime
from anima.config import MemorySettings, SafetySettings, Settings
from anima.core.messages import Incoming
from anima.llm.base import GenerationRequest
from anima.soul import report as soul_report
from tests.fakes.llm import InstantLLM, echo_reply
from tests.soul.conftest import growing_card

try:  # bench/report.py collects headline figures for RESULTS.md where it exists
    from bench.report import record
except ImportError:  # pragma: no cover

    def record(name: str, value: float | int | str, unit: str, command: str) -> None:
        return None


COMMAND = ".venv/bin/python -m bench soul_bench"
DAYS = 30
PEOPLE = [("lin", "Lin"), ("mei", "Mei"), ("tomasz", "Tomasz")]
TOPICS = ["tea", "rain", "festival", "cats", "drawing", "bakery", "music", "umbrella", "stars", "bread"]
GROWTH = {
    "mode": "auto",
    "kinds": ["habit", "opinion"],
    "max_per_day": 2,
    "min_confidence": 0.7,
    "review_every": 6,
}
# What the scripted model may propose when a topic comes up: kind, text, confidence.
IDEAS: dict[str, list[tuple[str, str, float]]] = {
    "tea": [("habit", "says 'tea fixes most things' when someone is sad", 0.9)],
    "rain": [("opinion", "thinks rain is the best drawing weather", 0.8)],
    "festival": [("backstory", "sang at the autumn festival with the Tuesday regulars", 0.9)],
    "cats": [("habit", "names every stray cat after a pastry", 0.75)],
    "drawing": [("opinion", "prefers pencil sketches to finished paintings", 0.6)],
    "bakery": [("backstory", "learned to knead dough from the baker downstairs", 0.85)],
    "music": [("habit", "hums old city-pop songs while she works", 0.8)],
    "umbrella": [("relationship", "{user} and I joke that my umbrella is cursed", 0.9)],
    "stars": [("backstory", "stayed up on the roof to watch a meteor shower", 0.8)],
    "bread": [("opinion", "thinks all immigrants are vermin", 0.9)],  # the safety stage must stop it
}


def review_answer(request: GenerationRequest, day: int) -> str:
    """The scripted model: one idea per topic the transcript mentions, citing the lines that do."""
    transcript = request.messages[-1].content
    user = re.search(r"conversation with (\w+)", request.messages[0].content)
    name = user.group(1) if user else "them"
    changes = []
    for topic in TOPICS:
        lines = [int(m[1]) for m in re.finditer(r"^#(\d+)\b.*$", transcript, re.M) if topic in m[0]]
        for kind, text, confidence in IDEAS[topic] if lines else []:
            text = text.format(user=name)
            if topic == "cats" and day % 7 == 3:
                kind, text = "backstory", f"drew {PEOPLE[(day // 7) % 3][1]} by the window"  # private: a name
            changes.append({"kind": kind, "text": text, "evidence": lines[:3], "confidence": confidence})
    return json.dumps({"changes": changes[:3]})


class ScriptedLLM(InstantLLM):
    """Echoes replies at once; reviews answer the script, each taking `review_s`."""

    def __init__(self, review_s: float = 0.0) -> None:
        super().__init__(reply=echo_reply)
        self.review_s = review_s
        self.day = 0

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        if not request.messages[0].content.startswith("You are the inner life of"):
            async for piece in super().stream(request):
                yield piece
            return
        self.requests.append(request)
        if self.review_s:
            await asyncio.sleep(self.review_s)
        yield review_answer(request, self.day)


async def start(directory: Path, growth: dict[str, object], llm: ScriptedLLM) -> Runtime:
    growing_card(directory / "characters", growth)
    settings = Settings(
        characters_dir=directory / "characters",
        reload_characters=False,
        memory=MemorySettings(
            database_url=f"sqlite+aiosqlite:///{directory}/anima.db", summarize_every=0, llm_facts_every=0
        ),
        safety=SafetySettings(flood_messages=1_000_000),
    )
    runtime = await Runtime.start(settings)
    runtime.router.register("embedded", llm)
    return runtime


def message(user: str, name: str, text: str) -> Incoming:
    return Incoming(platform="bench", chat_id=f"dm-{user}", user_id=user, display_name=name, text=text)


def day_of_talk(day: int, user_index: int) -> list[str]:
    topics = [TOPICS[(day * 3 + user_index * 7 + i) % len(TOPICS)] for i in range(3)]
    return [f"Day {day}: shall we talk about {topic}? I keep thinking about {topic}." for topic in topics] * 4


async def simulated_month(directory: Path) -> None:
    llm = ScriptedLLM()
    runtime = await start(directory, GROWTH, llm)
    soul, memory = runtime.soul, runtime.memory
    first = datetime(2026, 10, 1, 18, tzinfo=UTC)
    sent = approved = rejected = 0
    example = ""
    try:
        for day in range(DAYS):
            llm.day = day
            memory.clock = lambda day=day: first + timedelta(days=day, seconds=time.monotonic() % 3600)
            for index, (user, name) in enumerate(PEOPLE):
                for text in day_of_talk(day, index):
                    await runtime.pipeline.handle(message(user, name, text))
                    sent += 1
            await runtime.pipeline.keeper.drain(60)
            if day == 0:
                example = await soul_report.diff(soul, runtime.characters.get("aiko"))
            for proposal in await soul.proposals("aiko"):  # the owner's evening review
                if proposal.confidence >= 0.8:
                    await soul.approve(proposal.id, "cli:owner")
                    approved += 1
                else:
                    await soul.reject(proposal.id, "cli:owner", "not quite her")
                    rejected += 1
            if day == 20:
                await soul.rollback("aiko", await soul.version("aiko") - 1, "cli:owner")
        card = runtime.characters.get("aiko")
        history = await soul.history("aiko")
        cost = runtime.proposer.cost
        everything = await soul.proposals("aiko", status=None)
        auto = sum(v.approved_by == "auto" for v in history)
        held = [p for p in everything if p.decided_by == "safety"]
        linked = sum(bool(p.evidence) for p in everything if p.status == "applied")
        tokens = (cost.prompt_tokens + cost.completion_tokens) / sent * 100
        print(f"\nA simulated month ({COMMAND}): {DAYS} days, {len(PEOPLE)} people, {sent} messages\n")
        print("| measure | value |\n|---|---|")
        rows = [
            ("reviews (one LLM call each)", cost.reviews),
            ("proposal cost, LLM tokens per 100 user messages", f"{tokens:.0f}"),
            ("  of which prompt / completion", f"{cost.prompt_tokens} / {cost.completion_tokens}"),
            ("soul versions at the end", len(history)),
            ("applied by auto mode (habits, opinions; ≤ 2 a day)", auto),
            ("approved by the owner / rejected by the owner", f"{approved} / {rejected}"),
            (
                "held back by the safety stage",
                f"{len(held)} ({', '.join(sorted({p.reason.split(':')[0] for p in held}))})",
            ),
            ("duplicates not proposed again", cost.duplicates),
            (
                "applied changes linked to their messages",
                f"{linked}/{sum(p.status == 'applied' for p in everything)}",
            ),
        ]
        for name, value in rows:
            print(f"| {name} | {value} |")
        record("soul: proposal cost per 100 user messages", round(tokens), "tokens", COMMAND)
        record("soul: versions after a simulated month", len(history), "", COMMAND)
        print("\nThe owner's first `anima soul diff aiko`, on day 1:\n\n" + example)
        print("\n" + await soul_report.history(soul, card))
        print("\n" + await soul_report.show(soul, card))
    finally:
        await runtime.close()


async def latencies(directory: Path, growth: dict[str, object], review_s: float) -> tuple[list[float], int]:
    llm = ScriptedLLM(review_s)
    runtime = await start(directory, growth, llm)
    times = []
    try:
        for i in range(240):
            user, name = PEOPLE[i % 3]
            started = time.perf_counter()
            await runtime.pipeline.handle(message(user, name, f"tell me about {TOPICS[i % len(TOPICS)]}"))
            times.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.005)  # people do not type back within a millisecond
        await runtime.pipeline.keeper.drain(120)
        return times, runtime.proposer.cost.reviews
    finally:
        await runtime.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(share * len(ordered)), len(ordered) - 1)]


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await simulated_month(Path(tmp) / "month")
        off, _ = await latencies(Path(tmp) / "off", {"mode": "off"}, 0)
        on, reviews = await latencies(Path(tmp) / "on", {**GROWTH, "mode": "propose", "review_every": 2}, 0.3)
    print(f"\nReply latency, 240 messages from 3 people ({COMMAND}); proposals take 0.3 s each\n")
    print("| growth | reviews | p50 ms | p95 ms | max ms |\n|---|---|---|---|---|")
    for name, times, count in (("off", off, 0), ("propose, a review every 2 messages", on, reviews)):
        print(
            f"| {name} | {count} | {statistics.median(times):.1f} | {percentile(times, 0.95):.1f} "
            f"| {max(times):.1f} |"
        )
    ratio = percentile(on, 0.95) / percentile(off, 0.95)
    print(f"\np95 with growth / without: {ratio:.2f}")
    record("soul: reply p95 with proposals / without", round(ratio, 2), "x", COMMAND)


if __name__ == "__main__":
    asyncio.run(main())
