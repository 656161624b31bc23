"""The studio's door: a login by token (ANIMA_STUDIO_TOKEN, or the one-time link printed at start),
sessions in HttpOnly SameSite=Strict cookies, the session's CSRF token on every POST, and the
security headers of every answer (the Content-Security-Policy lets no inline script run)."""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from anima.bots.studio.context import CSRF, html
from anima.bots.studio.pages import login_page

log = logging.getLogger(__name__)
COOKIE = "anima_studio"
SESSION_HOURS = 12
MAX_SESSIONS = 32  # logged-in browsers at once
MAX_LOGIN_FAILURES, LOGIN_WINDOW_S = 10, 60.0  # more wrong tokens than this a minute: logins pause
OPEN_PATHS = ("/login",)
CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
    "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SCRIPT = "/static/studio.js"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Session:
    csrf: str
    expires: float


@dataclass
class Logins:
    """Who is logged in, and how to log in."""

    token: str  # ANIMA_STUDIO_TOKEN, or a random one for the one-time link
    one_time: bool = False  # the token logs in once (the printed link), then never again
    sessions: dict[str, Session] = field(default_factory=dict)
    failures: list[float] = field(default_factory=list)  # when the recent wrong tokens came

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/login", self._login_page),
            web.post("/login", self._login),
            web.post("/logout", self._logout),
        ]

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Login for every route but /login; the CSRF token for every POST; the security headers."""
        if request.path not in OPEN_PATHS:
            session = self._session(request)
            if session is None:
                if request.method == "GET" and request.path != SCRIPT:
                    raise web.HTTPFound("/login")
                raise web.HTTPUnauthorized(text="log in first: /login")
            if request.method == "POST":
                sent = request.headers.get("X-CSRF-Token", "")
                if not sent and request.content_type in (
                    "application/x-www-form-urlencoded",
                    "multipart/form-data",
                ):
                    sent = str((await request.post()).get("csrf", ""))
                if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                    raise web.HTTPForbidden(text="the form's CSRF token is missing or wrong: reload the page")
            request[CSRF] = session.csrf
        response = await handler(request)
        secure(response)
        return response

    def _session(self, request: web.Request) -> Session | None:
        session = self.sessions.get(request.cookies.get(COOKIE, ""))
        if session is None or session.expires < time.monotonic():
            return None
        return session

    def _accepts(self, token: str) -> bool:
        now = time.monotonic()
        self.failures = [at for at in self.failures if now - at < LOGIN_WINDOW_S]
        if len(self.failures) >= MAX_LOGIN_FAILURES:  # guessing: every try refused until the window passes
            return False
        if not self.token or not hmac.compare_digest(token.encode()[:200], self.token.encode()):
            self.failures.append(now)
            log.warning("studio: a login with a wrong token was refused")
            return False
        if self.one_time:
            self.token = ""  # the printed link worked once; a copy of it is worthless now
        return True

    def _logged_in(self, to: str = "/characters") -> web.HTTPFound:
        now = time.monotonic()
        self.sessions = {k: v for k, v in self.sessions.items() if v.expires > now}
        while len(self.sessions) >= MAX_SESSIONS:  # the oldest login gives way
            self.sessions.pop(next(iter(self.sessions)))
        sid = secrets.token_urlsafe(32)
        self.sessions[sid] = Session(secrets.token_urlsafe(32), time.monotonic() + SESSION_HOURS * 3600)
        response = web.HTTPFound(to)
        response.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", path="/")
        log.warning("studio: someone logged in")
        return response

    async def _login_page(self, request: web.Request) -> web.Response:
        if "token" in request.query:  # the one-time link
            if self._accepts(request.query["token"]):
                raise self._logged_in()
            return html(login_page("that link is used or wrong: paste the token"), 403)
        return html(login_page())

    async def _login(self, request: web.Request) -> web.Response:
        form = await request.post()
        if self._accepts(str(form.get("token", ""))):
            raise self._logged_in()
        return html(login_page("wrong token"), 403)

    async def _logout(self, request: web.Request) -> web.Response:
        self.sessions.pop(request.cookies.get(COOKIE, ""), None)
        raise web.HTTPFound("/login")


def secure(response: web.StreamResponse) -> None:
    """The headers every answer carries (a streamed one sets them before it starts)."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
