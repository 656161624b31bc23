"""The hot path's LLM side: CPU to read one streamed reply, Anima's aiohttp reader vs the openai client.

A fake OpenAI-compatible server (tests/fakes/openai_server.py, in its own process so its CPU is not
counted) streams a 200-word reply as 200 SSE chunks; this process reads REPLIES of them, 20 at once,
first through OpenAILLM (aiohttp, `data:` lines + json.loads), then through the `openai` client's
`with_streaming_response` + `iter_lines()` + json.loads (what OpenAILLM did before), in alternating
rounds. Reported: CPU of this process per reply, and the ratio.

Run: .venv/bin/python -m bench stream_bench
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import openai

from anima.config import OpenAIBackend
from anima.core.messages import ChatMessage
from anima.llm.base import GenerationRequest
from anima.llm.openai_backend import OpenAILLM
from bench.report import record

COMMAND = ".venv/bin/python -m bench stream_bench"
WORDS = 200
REPLIES = 200  # per reader per round
AT_ONCE = 20
ROUNDS = 3
REQUEST = GenerationRequest(messages=[ChatMessage("user", "hi")], max_tokens=400, temperature=0.5)
SERVER = f"""
import asyncio, sys
from tests.fakes.openai_server import FakeOpenAI
async def main():
    fake = FakeOpenAI(reply=" ".join(["word"] * {WORDS}))
    print(await fake.start(), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
asyncio.run(main())
"""


async def read_with_anima(backend: OpenAILLM) -> int:
    """Words of the reply (pieces that arrived together come as one)."""
    return len("".join([piece async for piece in backend.stream(REQUEST)]).split())


async def read_with_openai_lines(client: openai.AsyncOpenAI) -> int:
    pieces = 0
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 400, "stream": True}
    async with client.chat.completions.with_streaming_response.create(**body) as response:  # type: ignore[call-overload]
        async for line in response.iter_lines():
            if not line.startswith("data:") or line[5:].strip() == "[DONE]":
                continue
            for choice in json.loads(line[5:]).get("choices", ()):
                if (choice.get("delta") or {}).get("content"):
                    pieces += 1
    return pieces


async def cpu_per_reply(read: Callable[[], Awaitable[int]]) -> float:
    """CPU ms of this process per reply, AT_ONCE replies in flight at a time."""
    started = time.process_time()
    for _ in range(REPLIES // AT_ONCE):
        counts = await asyncio.gather(*(read() for _ in range(AT_ONCE)))
        assert all(count == WORDS for count in counts), counts
    return (time.process_time() - started) * 1000 / REPLIES


async def measure(base_url: str) -> tuple[list[float], list[float]]:
    backend = OpenAILLM("bench", OpenAIBackend(kind="openai", base_url=base_url, model="m"))
    client = openai.AsyncOpenAI(base_url=base_url, api_key="no-key", max_retries=0)
    await read_with_anima(backend), await read_with_openai_lines(client)  # warm both connections
    anima_ms: list[float] = []
    openai_ms: list[float] = []
    for _ in range(ROUNDS):
        anima_ms.append(await cpu_per_reply(lambda: read_with_anima(backend)))
        openai_ms.append(await cpu_per_reply(lambda: read_with_openai_lines(client)))
    await backend.close()
    await client.close()
    return anima_ms, openai_ms


def main() -> None:
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
    server = subprocess.Popen([sys.executable, "-c", SERVER], **pipes)  # type: ignore[call-overload]
    try:
        anima_ms, openai_ms = asyncio.run(measure(server.stdout.readline().strip()))
    finally:
        server.communicate("")
    anima, lines = min(anima_ms), min(openai_ms)
    print(COMMAND)
    print(f"{WORDS}-chunk streamed reply, {REPLIES} replies {AT_ONCE} at a time, best of {ROUNDS} rounds")
    print("| reader | CPU ms per reply |\n|---|---|")
    print(f"| Anima (aiohttp, data: lines + json.loads) | {anima:.2f} |")
    print(f"| openai client, with_streaming_response + iter_lines | {lines:.2f} |")
    print(f"ratio openai / Anima: {lines / anima:.2f}")
    record(f"CPU per {WORDS}-chunk streamed reply, Anima's aiohttp reader", round(anima, 2), "ms", COMMAND)
    record(f"CPU per {WORDS}-chunk streamed reply, openai client raw lines", round(lines, 2), "ms", COMMAND)
    record("openai client raw lines / Anima's reader (CPU)", f"{lines / anima:.2f}", "", COMMAND)
