"""`anima studio`: the web page where creators write characters, test them, put them online and
govern their growth. This module puts the pages together and serves them; each page is a module.

Security first (auth.py): every route but /login needs a session; every POST carries the session's
CSRF token; every text of a card is escaped (pages.py) and the Content-Security-Policy lets no inline
script run; uploads are capped; a card id is a file name inside characters_dir (context.py); each
change is logged with who made it. The test chat is a surface on the conversation service
(surface.py), never a pipeline of its own.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from anima.bots.services import Services
from anima.bots.studio import characters, chat, dry_run, form, health, online, people, safety, soul
from anima.bots.studio.auth import SCRIPT, Handler, Logins
from anima.bots.studio.context import STUDIO, StudioState
from anima.characters.importer import MAX_CARD_BYTES
from anima.yaml_source import display_path

if TYPE_CHECKING:
    from anima.bots.service import Fleet

log = logging.getLogger(__name__)
DEFAULT_PORT = 8765
MAX_FORM_BYTES = MAX_CARD_BYTES + 64 * 1024  # the largest upload (a card PNG) and its form
STATIC = Path(__file__).parent / "static"
PAGES = (characters, form, dry_run, chat, online, soul, safety, people, health)


@dataclass
class Studio:
    """The studio's routes over one running Runtime (and the bots of `anima run`, when it runs there)."""

    runtime: Services
    token: str  # ANIMA_STUDIO_TOKEN, or a random one for the one-time link
    one_time: bool = False  # the token logs in once (the printed link), then never again
    fleet: Fleet | None = None
    logins: Logins = field(init=False)

    def __post_init__(self) -> None:
        self.logins = Logins(self.token, self.one_time)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.logins.guard, _unwritable], client_max_size=MAX_FORM_BYTES)
        app[STUDIO] = StudioState(self.runtime, self.fleet)
        app.add_routes(
            [
                web.get("/", _home),
                web.get(SCRIPT, _script),
                *self.logins.routes(),
                *(route for module in PAGES for route in module.ROUTES),
            ]
        )
        return app


@web.middleware
async def _unwritable(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A file the studio could not write (a read-only folder, a full disk) is one line, not a 500
    page: atomic writes leave the old file as it was."""
    try:
        return await handler(request)
    except ConnectionError:  # the browser left
        raise
    except OSError as exc:
        folder = display_path(Path(exc.filename).parent) if exc.filename else "the studio's folders"
        line = f"Nothing was changed: the studio could not use {folder} ({exc.strerror or exc})."
        log.warning("studio: %s %s: %s", request.method, request.path, exc)
        return web.Response(status=500, text=f"{line} Let the user running anima read and write there.")


async def _home(request: web.Request) -> web.Response:
    raise web.HTTPFound("/characters")


async def _script(request: web.Request) -> web.Response:
    text = await asyncio.to_thread((STATIC / "studio.js").read_text, "utf-8")
    return web.Response(text=text, content_type="application/javascript")


async def open_studio(
    runtime: Services, host: str, port: int, token: str | None, fleet: Fleet | None = None
) -> tuple[web.AppRunner, str]:
    """Start serving the studio; returns the runner and the line to print: the one-time link when
    no token was configured (it holds the secret: it goes to the terminal, never to the log)."""
    one_time = not token
    studio = Studio(runtime, token or secrets.token_urlsafe(24), one_time, fleet)
    runner = web.AppRunner(studio.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    shown = f"http://{host}:{runner.addresses[0][1]}"
    if one_time:
        return runner, f"anima studio: open {shown}/login?token={studio.logins.token} (this link works once)"
    return runner, f"anima studio: open {shown}/login and paste ANIMA_STUDIO_TOKEN"


async def serve_studio(
    runtime: Services,
    host: str,
    port: int,
    token: str | None,
    stop: asyncio.Event,
    fleet: Fleet | None = None,
) -> None:
    """Serve the studio until `stop` is set."""
    runner, line = await open_studio(runtime, host, port, token, fleet)
    print(line, flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
