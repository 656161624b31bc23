"""Memory benchmarks: LoCoMo evidence recall, and what recall costs a reply.

Run: make bench  (or: .venv/bin/python -m bench memory_bench)
     .venv/bin/anima bench memory --locomo ../shared/benchmarks/locomo [--database URL] [--minilm]

LoCoMo (anima/memory/locomo.py) lives in the package, so `anima bench memory` works on an installed
wheel; the pipeline's cost needs the instant LLM of tests/fakes, so it runs here only. Recall
latency at 100,000 and 1,000,000 messages: bench/memory_scale_bench.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from anima.app import Runtime
from anima.config import MemorySettings, SafetySettings, Settings
from anima.core.messages import Incoming
from anima.memory import locomo
from anima.memory.scale import Talk
from bench.report import record, record_all
from tests.fakes.llm import InstantLLM

REPO = Path(__file__).resolve().parent.parent
DEFAULT_LOCOMO = REPO.parent / "shared" / "benchmarks" / "locomo"
COMMAND = ".venv/bin/python -m bench memory_bench"


async def pipeline_cost(recall_memories: int, messages: int = 1000, users: int = 10) -> float:
    """CPU ms per message of Pipeline.handle (instant LLM, SQLite file), with recall on or off."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            characters_dir=REPO / "characters",
            memory=MemorySettings(
                database_url=f"sqlite:///{tmp}/bench.db", recall_memories=recall_memories, llm_facts_every=0
            ),
            safety=SafetySettings(flood_messages=1_000_000),
        )
        runtime = await Runtime.start(settings)
        runtime.router.register("embedded", InstantLLM(reply=lambda _r: "Sure, I remember that. " * 4))
        talk = Talk(seed=3)
        for i in range(users * 20):  # some history first, so recall has something to search
            await runtime.pipeline.handle(Incoming("bench", "chat", f"user{i % users}", "Lin", talk.line()))
        await runtime.pipeline.keeper.drain()
        lines = [talk.line() for _ in range(messages)]
        started = time.process_time()
        for i, line in enumerate(lines):
            await runtime.pipeline.handle(Incoming("bench", "chat", f"user{i % users}", "Lin", line))
        cpu = time.process_time() - started
        await runtime.pipeline.keeper.drain()
        await runtime.close()
    return cpu * 1000 / messages


def embedding_cost(lines: list[str]) -> dict[str, float]:
    """CPU ms per message embedded alone (as a question is on a reply's path), by encoder."""
    from threadpoolctl import threadpool_limits

    from anima.memory.vectors import Encoding, encoder

    runs: tuple[tuple[Encoding, int], ...] = (("static", len(lines)), ("minilm", 20))
    costs = {}
    with threadpool_limits(1):  # as the index's worker thread runs it
        for name, count in runs:
            model = encoder(name)
            model.embed(lines[:2])  # warm
            started = time.process_time()
            for line in lines[:count]:
                model.embed([line])
            costs[name] = (time.process_time() - started) * 1000 / count
    return costs


async def run(locomo_path: Path | None, database_url: str | None = None, minilm: bool = False) -> None:
    if locomo_path is not None and await asyncio.to_thread(locomo_path.exists):
        record_all(await locomo.run_bench(locomo_path, database_url, True, minilm))
    else:
        print(f"(LoCoMo data not found at {locomo_path}: skipped; pass --locomo PATH)")
    talk = Talk(seed=5)
    costs = await asyncio.to_thread(embedding_cost, [talk.line() for _ in range(400)])
    print()
    print(f"$ {COMMAND}")
    print("| encoder (memory.encoder) | CPU ms per message embedded alone |")
    print("|---|---|")
    for name, ms in costs.items():
        print(f"| {name} | {ms:.2f} |")
    record("CPU per embedded message, static encoder (the default)", round(costs["static"], 2), "ms", COMMAND)
    off, on = [], []
    for _ in range(2):  # interleaved, so machine noise hits both alike
        off.append(await pipeline_cost(0))
        on.append(await pipeline_cost(8))
    print()
    print(f"$ {COMMAND}")
    print("| pipeline CPU per message (instant LLM, SQLite file) | ms |")
    print("|---|---|")
    print(f"| recall off (memory.recall_memories: 0) | {min(off):.2f} |")
    print(f"| recall on (8 memories, full-text + static vectors) | {min(on):.2f} |")
    record("pipeline CPU per message, recall on (8 memories)", min(on), "ms", COMMAND)


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="memory_bench")
    parser.add_argument("--locomo", type=Path, default=Path(os.environ.get("ANIMA_LOCOMO", DEFAULT_LOCOMO)))
    parser.add_argument("--database", help="a PostgreSQL URL to run on (default: a temporary SQLite file)")
    parser.add_argument("--minilm", action="store_true", help="LoCoMo with full MiniLM too (slow)")
    return parser.parse_args(argv)


async def main() -> None:
    args = _arguments([a for a in os.environ.get("ANIMA_MEMORY_BENCH", "").split() if a])
    await run(args.locomo, args.database, args.minilm)


if __name__ == "__main__":
    args = _arguments()
    asyncio.run(run(args.locomo, args.database, args.minilm))
