"""A slow echoing model for the crash and multi-process tests: each reply is predictable from the
message ("Echo: <message> la la …") and streams one word per chunk, so replies are in flight when a
process is killed or stopped."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from aiohttp import web

from tests.fakes.openai_server import FakeOpenAI


def expected_reply(text: str, words: int = 10) -> str:
    return " ".join([f"Echo: {text}", *["la"] * (words - 1)])


@dataclass
class EchoingOpenAI(FakeOpenAI):
    words: int = 10  # per reply, one per chunk
    chunk_delay_s: float = 0.04

    async def _answer_chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        said = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for i, word in enumerate(expected_reply(said, self.words).split(" ")):
            if i:
                await asyncio.sleep(self.chunk_delay_s)
            chunk = {"choices": [{"index": 0, "delta": {"content": word if i == 0 else " " + word}}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
