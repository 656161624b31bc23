"""A fake OpenAI-compatible /v1/moderations endpoint on 127.0.0.1 (aiohttp), scripted per test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web


class ModerationServer:
    """Flags any input containing one of `flag_words`; waits on `release` first when `hold` is set."""

    def __init__(self, flag_words: tuple[str, ...] = ()) -> None:
        self.flag_words = flag_words
        self.inputs: list[str] = []
        self.hold = False
        self.release = asyncio.Event()
        self.url = ""

    async def moderations(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.inputs.append(body["input"])
        if self.hold:
            await self.release.wait()
        flagged = any(word in body["input"] for word in self.flag_words)
        result = {
            "flagged": flagged,
            "categories": {"harassment": flagged, "sexual": False},
            "category_scores": {"harassment": 0.97 if flagged else 0.01, "sexual": 0.0},
        }
        return web.json_response({"id": "modr-1", "model": body.get("model"), "results": [result]})

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ModerationServer]:
        app = web.Application()
        app.router.add_post("/v1/moderations", self.moderations)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v1"
        try:
            yield self
        finally:
            self.release.set()
            await runner.cleanup()
