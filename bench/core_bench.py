"""Core benchmarks: pipeline overhead per message, and embedded generation through Anima vs raw llama.cpp.

Run: make bench  (or: .venv/bin/python -m bench core_bench)
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from anima.app import Runtime
from anima.config import EmbeddedBackend, MemorySettings, SafetySettings, Settings
from anima.core.messages import ChatMessage, Incoming, Reply
from anima.llm.base import GenerationRequest
from anima.llm.embedded import EmbeddedLLM
from anima.ops.metrics import METRICS
from bench.report import record
from tests.fakes.llm import InstantLLM

REPO = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m bench core_bench"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# What the pipeline's own time per message is made of (anima/ops/metrics.py's stages), in order;
# "LLM stream handling" is generation without the prompt (the instant LLM's stream, the router).
STAGES = (
    ("safety, input", ("safety_input",), ()),
    ("recall", ("recall",), ()),
    ("prompt build + token count", ("prompt",), ()),
    ("LLM stream handling (router, pieces)", ("generate_total",), ("prompt",)),
    ("safety, output", ("safety_output",), ()),
)
REST = "the rest, to the reply sent"
# Written beside the reply, not on its way (the turn ends once both are committed).
BESIDE = (
    ("store the message (beside the reply)", ("store_message",), ()),
    ("store the reply (during the send)", ("store_reply",), ()),
)


class SentAt:
    """A platform stream that sends nothing and notes when the final send returned."""

    def __init__(self) -> None:
        self.at = 0.0

    async def delta(self, text: str) -> None:
        pass

    async def finish(self, reply: Reply) -> None:
        self.at = time.perf_counter()


async def pipeline_overhead(messages: int = 2000, users: int = 20, paced: bool = False) -> dict[str, Any]:
    """Time Pipeline.handle with an instant LLM (SQLite file), one message after another as soon as
    the previous turn ended, so the background memory work of earlier turns competes with each;
    `paced`: each message once the background work of the last is done (a bot that keeps up).

    "pipeline" spans Pipeline.handle called with the message → the reply's final send returned
    (the stream's finish): what a person waits for. The whole turn also waits for the reply's
    record and the message's, written while the reply is made (BESIDE). Each stage on the way to
    the reply sent (STAGES; REST: conversation state, the event loop, waits for the threads) is
    timed within the turn."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            characters_dir=REPO / "characters",
            memory=MemorySettings(database_url=f"sqlite+aiosqlite:///{tmp}/bench.db"),
            safety=SafetySettings(flood_messages=1_000_000),  # 100 messages a user at once, on purpose
        )
        runtime = await Runtime.start(settings)
        await runtime.settled()  # the learned guard loaded (and start-up frozen): every turn measures it
        runtime.router.register("embedded", InstantLLM(reply=lambda _r: "Sure, I remember that. " * 4))
        samples: list[float] = []
        turns: list[float] = []
        timed: dict[str, float] = {}
        per_stage: dict[str, list[float]] = {label: [] for label, _, _ in STAGES}
        per_stage[REST] = []
        per_stage |= {label: [] for label, _, _ in BESIDE}
        METRICS.listeners.append(lambda stage, seconds: timed.__setitem__(stage, seconds * 1000))
        started = time.perf_counter()
        cpu_started = time.process_time()
        for i in range(messages):
            message = Incoming("bench", "chat", f"user{i % users}", "Lin", f"message {i}: how was your day?")
            timed.clear()
            sent = SentAt()
            t0 = time.perf_counter()
            await runtime.pipeline.handle(message, sent)
            total = (time.perf_counter() - t0) * 1000
            samples.append((sent.at - t0) * 1000)
            turns.append(total)
            if paced:
                await runtime.pipeline.keeper.drain()
            for label, stages, less in (*STAGES, *BESIDE):
                per_stage[label].append(
                    sum(timed.get(s, 0.0) for s in stages) - sum(timed.get(s, 0.0) for s in less)
                )
            named = sum(per_stage[label][-1] for label, _, _ in STAGES)
            per_stage[REST].append(samples[-1] - named)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        METRICS.listeners.clear()
        await runtime.close()
    skip = users * 2  # the first messages of each user open their conversation
    warm, whole = samples[skip:], turns[skip:]
    return {
        "p50_ms": percentile(warm, 0.50),
        "p99_ms": percentile(warm, 0.99),
        "turn_p50_ms": percentile(whole, 0.50),
        "turn_p99_ms": percentile(whole, 0.99),
        "msgs_per_s": messages / wall,
        "cpu_ms_per_msg": cpu * 1000 / messages,
        "stages": {label: values[skip:] for label, values in per_stage.items()},
    }


async def embedded_ratio(rounds: int = 3, max_tokens: int = 128) -> dict[str, float]:
    """Tokens/s of the same greedy generation, through Anima's backend and through xllamacpp directly."""
    import xllamacpp

    # Tidying off: it releases whole sentences, and pieces are counted here as tokens.
    settings = EmbeddedBackend(kind="embedded", context_window=2048, tidy_replies=False)
    anima_llm = EmbeddedLLM("embedded", settings)
    await anima_llm.start()
    messages = [
        ChatMessage("system", "You are Aiko, a warm illustrator who loves tea. Stay in character."),
        ChatMessage("user", "Tell me a long story about your day at the bakery."),
    ]
    request = GenerationRequest(messages=messages, max_tokens=max_tokens, temperature=0.0)
    body = json.loads(anima_llm._payload(request))
    body["stream"] = True

    params = xllamacpp.CommonParams()
    params.model.path = str(anima_llm.model_path)
    params.n_ctx, params.n_parallel, params.verbosity = 2048, 1, 0
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = anima_llm.threads
    raw_server = xllamacpp.Server(params)

    def raw_run() -> tuple[int, float]:
        chunks = 0

        def on_chunk(data: str) -> bool:
            nonlocal chunks
            if '"content":"' in data:
                chunks += 1
            return False

        t0 = time.perf_counter()
        raw_server.handle_chat_completions(json.dumps(body), on_chunk)
        return chunks, time.perf_counter() - t0

    async def anima_run() -> tuple[int, float]:
        t0 = time.perf_counter()
        pieces = [piece async for piece in anima_llm.stream(request)]
        return len(pieces), time.perf_counter() - t0

    raw_rates, anima_rates = [], []
    for _ in range(rounds):  # interleaved, so machine noise hits both alike
        n, seconds = raw_run()
        raw_rates.append(n / seconds)
        n, seconds = await anima_run()
        anima_rates.append(n / seconds)
    await anima_llm.close()
    raw, anima = statistics.median(raw_rates), statistics.median(anima_rates)
    return {"raw_tok_s": raw, "anima_tok_s": anima, "ratio": anima / raw, "threads": anima_llm.threads}


async def main() -> None:
    overhead = await pipeline_overhead()
    paced = await pipeline_overhead(1000, paced=True)
    print(f"$ {COMMAND}")
    print("pipeline = Pipeline.handle(message) → the reply's final send returned (instant LLM, SQLite file);")
    print("back to back: each message as soon as the last turn ended (its background memory work competes);")
    print("paced: each message once the last one's background work is done (a bot that keeps up)")
    print()
    print("| pipeline | back to back | paced | target |")
    print("|---|---|---|---|")
    print(f"| p50 message → reply sent | {overhead['p50_ms']:.2f} ms | {paced['p50_ms']:.2f} ms | |")
    print(f"| p99 message → reply sent | {overhead['p99_ms']:.2f} ms | {paced['p99_ms']:.2f} ms | ≤ 2 ms |")
    turns = [f"{run['turn_p50_ms']:.2f} / {run['turn_p99_ms']:.2f} ms" for run in (overhead, paced)]
    print(f"| p50 / p99 whole turn (+ the message's and the reply's records) | {turns[0]} | {turns[1]} | |")
    print(f"| messages/s | {overhead['msgs_per_s']:.0f} | | |")
    cpu = [f"{run['cpu_ms_per_msg']:.2f} ms" for run in (overhead, paced)]
    print(f"| CPU per message (the turn and its background memory work) | {cpu[0]} | {cpu[1]} | |")
    record("pipeline p50 message → reply sent (instant LLM, SQLite)", overhead["p50_ms"], "ms", COMMAND)
    record("pipeline p99 message → reply sent (target ≤ 2 ms)", overhead["p99_ms"], "ms", COMMAND)
    record("pipeline p99 message → reply sent, paced", paced["p99_ms"], "ms", COMMAND)
    record(
        "pipeline p99 whole turn (+ the message's and the reply's records)",
        overhead["turn_p99_ms"],
        "ms",
        COMMAND,
    )
    record("pipeline CPU per message", overhead["cpu_ms_per_msg"], "ms", COMMAND)
    print()
    print("| a message's stages (wall; back to back / paced) | p50 ms | p99 ms | mean ms |")
    print("|---|---|---|---|")
    for label, values in overhead["stages"].items():
        both = (values, paced["stages"][label])
        p50, p99 = ([f"{percentile(v, q):.2f}" for v in both] for q in (0.5, 0.99))
        mean = [f"{statistics.fmean(v):.2f}" for v in both]
        print(f"| {label} | {' / '.join(p50)} | {' / '.join(p99)} | {' / '.join(mean)} |")
    for label, values in overhead["stages"].items():
        record(f"pipeline stage p50: {label}", percentile(values, 0.5), "ms", COMMAND)
    ratio = await embedded_ratio()
    print()
    threads = f"{ratio['threads']:.0f} threads"
    print(f"| embedded generation (SmolLM2-135M Q4_1, {threads}, greedy, 128 tokens) | tokens/s |")
    print("|---|---|")
    print(f"| llama.cpp directly (xllamacpp) | {ratio['raw_tok_s']:.1f} |")
    print(f"| through Anima's backend | {ratio['anima_tok_s']:.1f} |")
    print(f"| ratio (target >= 0.95) | {ratio['ratio']:.3f} |")
    record("embedded generation, llama.cpp directly", ratio["raw_tok_s"], "tokens/s", COMMAND)
    record("embedded generation through Anima", ratio["anima_tok_s"], "tokens/s", COMMAND)
    record("embedded through Anima / raw llama.cpp (target ≥ 0.95)", f"{ratio['ratio']:.3f}", "", COMMAND)


if __name__ == "__main__":
    asyncio.run(main())
