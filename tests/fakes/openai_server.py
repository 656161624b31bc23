"""A fake OpenAI-compatible server (aiohttp, 127.0.0.1) that streams SSE and injects faults.

Tests queue faults (`fail_next(status, retry_after=…)`, `break_stream_after(n)`) and read what the
client sent from `requests`. `/v1/audio/speech` answers with `speech_audio`, bytes the test makes
(a WAV, or raw PCM for response_format "pcm"); its requests go to `speech_requests`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Fault:
    status: int
    retry_after: float | None = None


@dataclass
class FakeOpenAI:
    reply: str = "Hello from the fake server, friend."
    requests: list[dict[str, Any]] = field(default_factory=list)
    request_times: list[float] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    break_after: int | None = None  # close the stream after this many chunks, without [DONE]
    hang: bool = False  # accept the request and never answer
    chunk_delay_s: float = 0.0  # a slow model: wait this long before each chunk after the first
    streaming: asyncio.Event = field(default_factory=asyncio.Event)  # set once a chunk was sent
    speech_audio: bytes = b""
    speech_requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""
    _runner: web.AppRunner | None = None

    def fail_next(self, status: int, times: int = 1, retry_after: float | None = None) -> None:
        self.faults.extend(Fault(status, retry_after) for _ in range(times))

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/audio/speech", self._speech)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.request_times.append(time.monotonic())
        if self.faults:
            fault = self.faults.popleft()
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            error = {"error": {"message": f"injected {fault.status}", "type": "fake"}}
            return web.json_response(error, status=fault.status, headers=headers)
        if self.hang:
            await asyncio.sleep(3600)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        words = self.reply.split(" ")
        for i, word in enumerate(words):
            if self.break_after is not None and i >= self.break_after:
                request.transport.close()  # type: ignore[union-attr]
                return response
            if i and self.chunk_delay_s:
                await asyncio.sleep(self.chunk_delay_s)
            piece = word if i == 0 else " " + word
            chunk = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"content": piece}}],
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.streaming.set()
        await response.write(b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n')
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _speech(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.speech_requests.append(body)
        if self.faults:
            fault = self.faults.popleft()
            error = {"error": {"message": f"injected {fault.status}", "type": "fake"}}
            return web.json_response(error, status=fault.status)
        kind = {"wav": "audio/wav", "flac": "audio/flac", "pcm": "audio/pcm"}.get(body.get("response_format"))
        return web.Response(body=self.speech_audio, content_type=kind or "application/octet-stream")
