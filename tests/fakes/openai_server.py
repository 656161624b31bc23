"""A fake OpenAI-compatible server (aiohttp, 127.0.0.1) that streams SSE and injects faults.

Tests queue faults and read what the client sent from `requests`. Fault modes: `fail_next(status,
times, retry_after=…)` (5xx, 429 with Retry-After), `outage(seconds)` (every request fails until it
ends; `outage_over` is set then), `hang` (no answer at all), `stall` (headers, then no first token),
`break_after` (the stream breaks off after n pieces), `refuse_connections()` / `accept_connections()`
(nothing listens on the port). Hung handlers are released by `stop()`. `/v1/audio/speech` answers
with `speech_audio`, bytes the test makes (a WAV, or raw PCM for response_format "pcm"); its
requests go to `speech_requests`. `/v1/audio/transcriptions` answers with `transcription_text`; each
request's form fields and the audio file's bytes go to `transcription_requests`.
`/v1/images/generations` answers with a real PNG (`picture()`: a 64 x 64 gradient) as b64_json; its
requests go to `image_requests`.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from collections import deque
from dataclasses import dataclass, field
from random import Random
from typing import Any

from aiohttp import web

PACE_TICK_S = 0.02


def _chunk(piece: str) -> bytes:
    chunk = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": piece}}],
    }
    return f"data: {json.dumps(chunk)}\n\n".encode()


@dataclass
class Fault:
    status: int
    retry_after: float | None = None


@dataclass
class FakeOpenAI:
    reply: str = "Hello from the fake server, friend."
    pieces: list[str] | None = None  # streamed as they are, one chunk each (else `reply` word by word)
    requests: list[dict[str, Any]] = field(default_factory=list)
    request_times: list[float] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    break_after: int | None = None  # close the stream after this many chunks, without [DONE]
    hang: bool = False  # accept the request and never answer
    chunk_delay_s: float = 0.0  # a slow model: wait this long before each chunk after the first
    # A model's pace as a hosted one streams (the benches): the first chunk after `first_chunk_s`,
    # then `pieces_per_s`, written as they fall due on a 20 ms tick (a sleep per piece would cost the
    # server more CPU than the bot it measures)
    first_chunk_s: float = 0.0
    pieces_per_s: float = 0.0
    streaming: asyncio.Event = field(default_factory=asyncio.Event)  # set once a chunk was sent
    stall: bool = False  # send the 200 and its headers, then no token at all
    outage_status: int = 503
    outage_share: float = 1.0  # of requests failed during the outage (a 429 storm fails some)
    outage_retry_after: float | None = None
    random: Random = field(default_factory=lambda: Random(7))
    outage_until: float = 0.0  # time.monotonic() before which every chat request fails
    outage_over: asyncio.Event = field(default_factory=asyncio.Event)
    request_seen: asyncio.Event = field(default_factory=asyncio.Event)  # set on every chat request
    in_flight: int = 0  # chat requests being answered now, and the most at once
    peak_in_flight: int = 0
    speech_audio: bytes = b""
    speech_requests: list[dict[str, Any]] = field(default_factory=list)
    transcription_text: str = "Hello from the fake transcriber."
    transcription_requests: list[dict[str, Any]] = field(default_factory=list)
    image_requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""
    _runner: web.AppRunner | None = None
    _site: web.TCPSite | None = None
    _port: int = 0
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def fail_next(self, status: int, times: int = 1, retry_after: float | None = None) -> None:
        self.faults.extend(Fault(status, retry_after) for _ in range(times))

    def outage(
        self, seconds: float, status: int = 503, share: float = 1.0, retry_after: float | None = None
    ) -> None:
        """Fail chat requests (all, or `share` of them) with `status` for `seconds` from now; then
        `outage_over` is set. A 429 storm: `outage(20, 429, share=0.7, retry_after=1)`."""
        self.outage_status, self.outage_share, self.outage_retry_after = status, share, retry_after
        self.outage_until = time.monotonic() + seconds
        self.outage_over.clear()
        asyncio.get_running_loop().call_later(seconds, self.outage_over.set)

    def end_outage(self) -> None:
        self.outage_until = 0.0
        self.outage_over.set()

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/audio/speech", self._speech)
        app.router.add_post("/v1/audio/transcriptions", self._transcription)
        app.router.add_post("/v1/images/generations", self._image)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        await self.accept_connections()
        self.base_url = f"http://127.0.0.1:{self._port}/v1"
        return self.base_url

    async def refuse_connections(self) -> None:
        """Close the listening socket: connecting is refused until `accept_connections()`."""
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def accept_connections(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await self._site.start()
        self._port = self._site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _hang(self) -> None:
        """Until the test stops the server (bounded, so a forgotten server cannot hang a run)."""
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=600)
        except TimeoutError:
            pass

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.request_seen.set()
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            return await self._answer_chat(request)
        finally:
            self.in_flight -= 1

    async def _answer_chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.request_times.append(time.monotonic())
        if self.faults:
            fault = self.faults.popleft()
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            error = {"error": {"message": f"injected {fault.status}", "type": "fake"}}
            return web.json_response(error, status=fault.status, headers=headers)
        if time.monotonic() < self.outage_until and self.random.random() < self.outage_share:
            error = {"error": {"message": "injected outage", "type": "fake"}}
            retry = self.outage_retry_after
            headers = {"Retry-After": str(retry)} if retry is not None else {}
            return web.json_response(error, status=self.outage_status, headers=headers)
        if self.hang:
            await self._hang()
            return web.Response(status=503)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if self.stall:
            await self._hang()
            return response
        words = self.reply.split(" ")
        pieces = self.pieces or [word if i == 0 else " " + word for i, word in enumerate(words)]
        if self.pieces_per_s:
            await self._paced(response, pieces)
            return response
        for i, piece in enumerate(pieces):
            if self.break_after is not None and i >= self.break_after:
                request.transport.close()  # type: ignore[union-attr]
                return response
            if i and self.chunk_delay_s:
                await asyncio.sleep(self.chunk_delay_s)
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

    async def _paced(self, response: web.StreamResponse, pieces: list[str]) -> None:
        await asyncio.sleep(self.first_chunk_s)
        started, sent = time.monotonic(), 0
        while sent < len(pieces):
            due = min(len(pieces), 1 + int((time.monotonic() - started) * self.pieces_per_s))
            await response.write(b"".join(_chunk(piece) for piece in pieces[sent:due]))
            self.streaming.set()
            sent = due
            if sent < len(pieces):
                await asyncio.sleep(PACE_TICK_S)
        await response.write(b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n')
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()

    async def _speech(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.speech_requests.append(body)
        if self.faults:
            fault = self.faults.popleft()
            error = {"error": {"message": f"injected {fault.status}", "type": "fake"}}
            return web.json_response(error, status=fault.status)
        kind = {"wav": "audio/wav", "flac": "audio/flac", "pcm": "audio/pcm"}.get(body.get("response_format"))
        return web.Response(body=self.speech_audio, content_type=kind or "application/octet-stream")

    async def _transcription(self, request: web.Request) -> web.Response:
        form = await request.post()
        fields: dict[str, Any] = {}
        for name, value in form.items():
            fields[name] = value.file.read() if isinstance(value, web.FileField) else value
        self.transcription_requests.append(fields)
        if self.faults:
            fault = self.faults.popleft()
            error = {"error": {"message": f"injected {fault.status}", "type": "fake"}}
            return web.json_response(error, status=fault.status)
        return web.json_response({"text": self.transcription_text})

    async def _image(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.image_requests.append(body)
        if self.faults:
            fault = self.faults.popleft()
            error = {"error": {"message": f"injected {fault.status}", "type": "fake"}}
            return web.json_response(error, status=fault.status)
        data = base64.b64encode(picture()).decode("ascii")
        return web.json_response({"created": int(time.time()), "data": [{"b64_json": data}]})


def picture() -> bytes:
    """A real PNG, 64 x 64, a gradient (what the fake images server makes)."""
    from PIL import Image

    image = Image.new("RGB", (64, 64))
    image.putdata([(x * 4, y * 4, 128) for y in range(64) for x in range(64)])
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
