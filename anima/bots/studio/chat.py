"""The test chat: the creator talks to the character as the studio's test person, through the
conversation service like any platform's message (surface.py); the reply streams to the browser
as NDJSON lines, then its safety verdicts and timings. The test person's memory can be wiped."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from anima.bots.services import Services
from anima.bots.studio.auth import secure
from anima.bots.studio.context import CSRF, MAX_MESSAGE_CHARS, TEST_PERSON, card_path, html, runtime
from anima.bots.studio.pages import csrf_field, esc, page
from anima.bots.studio.surface import PLATFORM, StudioSurface

log = logging.getLogger(__name__)


async def chat_page(request: web.Request) -> web.Response:
    card_id, _ = card_path(request)
    csrf = request[CSRF]
    body = (
        f'<div class=chatlog id=log></div><form id=chat action="/chat/{esc(card_id)}" method=post>'
        f'{csrf_field(csrf)}<input name="message" size=60 required maxlength={MAX_MESSAGE_CHARS} '
        "autocomplete=off> <button>Send</button></form>"
        f'<form method=post action="/chat/{esc(card_id)}/wipe" class=inline>{csrf_field(csrf)}'
        f"<button>Wipe the test person's memory</button></form>"
        f'<p class="muted">You talk as the test person {esc(TEST_PERSON)}, through the real pipeline.</p>'
    )
    return html(page(f"Test chat: {card_id}", body, csrf, script=True))


async def chat(request: web.Request) -> web.StreamResponse:
    """One message through the conversation service; the reply streams as NDJSON lines."""
    card_id, _ = card_path(request)
    message = str((await request.post()).get("message", ""))[:MAX_MESSAGE_CHARS]
    surface = StudioSurface(card_id, TEST_PERSON)
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    secure(response)
    await response.prepare(request)
    since = datetime.now(UTC) - timedelta(seconds=1)
    work = asyncio.create_task(
        runtime(request).conversations.handle(surface.incoming(message), surface, gather=False)
    )

    async def send(event: dict[str, Any]) -> None:
        await response.write((json.dumps(event) + "\n").encode())

    try:
        while True:
            getter = asyncio.create_task(surface.events.get())
            done, _ = await asyncio.wait({getter, work}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            await send(getter.result())
        while not surface.events.empty():
            await send(surface.events.get_nowait())
        failed = work.exception()
        if failed is not None:
            log.error("studio: the test chat's reply failed: %s", failed)
        await send(
            {
                "done": True,
                "total_s": round(time.perf_counter() - surface.started, 3),
                "verdicts": await _verdicts(runtime(request), surface.chat_id, since),
                "error": "" if failed is None else "the reply failed: see the log",
            }
        )
        await response.write_eof()
    except ConnectionResetError:  # the browser left: the turn still ends, and is stored, as on any chat
        await asyncio.gather(work, return_exceptions=True)
    return response


async def _verdicts(runtime: Services, chat_id: str, since: datetime) -> list[str]:
    audit = runtime.pipeline.safety.audit
    if audit is None:
        return []
    events = await audit.events(since, limit=50)
    return [f"{e.stage} {e.check}: {e.action} {e.category}".strip() for e in events if e.chat_id == chat_id]


async def wipe(request: web.Request) -> web.Response:
    card_id, _ = card_path(request)
    deleted = await runtime(request).memory.forget_user(PLATFORM, TEST_PERSON)
    log.warning("studio: the creator wiped the test person's memory (%d messages)", deleted)
    raise web.HTTPFound(f"/chat/{card_id}")


ROUTES = [
    web.get("/chat/{id}", chat_page),
    web.post("/chat/{id}", chat),
    web.post("/chat/{id}/wipe", wipe),
]
