"""`anima studio`: the web page where creators write characters, test them and govern their growth.

Security first: every route but /login needs a session (the token from ANIMA_STUDIO_TOKEN, or a
one-time link printed at start); the session cookie is HttpOnly and SameSite=Strict; every POST
carries the session's CSRF token; every text of a card is escaped and the Content-Security-Policy
lets no inline script run; uploads are capped; a card id is a file name inside characters_dir; each
change is logged with who made it. The test chat is a surface on the conversation service
(surface.py), never a pipeline of its own.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from anima.app import Runtime
from anima.bots.studio.pages import csrf_field, esc, login_page, page, table
from anima.bots.studio.surface import PLATFORM, StudioSurface
from anima.characters.exporter import ExportFormat, export_card, export_name
from anima.characters.importer import MAX_CARD_BYTES, atomic_write
from anima.characters.install import install_card_reporting
from anima.characters.library import CARD_SUFFIXES, load_card_bytes
from anima.characters.limits import MAX_CARD_FILE_BYTES
from anima.characters.lorebook import activate, trigger_of
from anima.characters.template import card_template
from anima.characters.validate import Finding, parse_problem
from anima.core.prompt import PromptBuilder, TurnContext
from anima.errors import AnimaError, ConfigError

log = logging.getLogger(__name__)
COOKIE = "anima_studio"
DEFAULT_PORT = 8765
EXPORTS: dict[str, ExportFormat] = {"v2": "v2", "v3": "v3", "json": "v3", "png": "png"}
SESSION_HOURS = 12
MAX_SESSIONS = 32  # logged-in browsers at once
MAX_LOGIN_FAILURES, LOGIN_WINDOW_S = 10, 60.0  # more wrong tokens than this a minute: logins pause
MAX_FORM_BYTES = MAX_CARD_BYTES + 64 * 1024  # the largest upload (a card PNG) and its form
MAX_MESSAGE_CHARS = 4000
CARD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
    "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
TEST_PERSON = "studio-tester"
CSRF = web.RequestKey("csrf", str)  # the session's CSRF token, for the page's forms

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Session:
    csrf: str
    expires: float


@dataclass
class Studio:
    """The studio's routes over one running Runtime."""

    runtime: Runtime
    token: str  # ANIMA_STUDIO_TOKEN, or a random one for the one-time link
    one_time: bool = False  # the token logs in once (the printed link), then never again
    sessions: dict[str, Session] = field(default_factory=dict)
    failures: list[float] = field(default_factory=list)  # when the recent wrong tokens came

    # --- the application and its guards ---------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=MAX_FORM_BYTES)
        get, post = web.get, web.post
        app.add_routes(
            [
                get("/", self._home),
                get("/login", self._login_page),
                post("/login", self._login),
                post("/logout", self._logout),
                get("/static/studio.js", self._script),
                get("/characters", self._characters),
                post("/characters/new", self._new_card),
                post("/characters/import", self._import_card),
                get("/characters/{id}", self._editor),
                post("/characters/{id}", self._save),
                post("/characters/{id}/validate", self._validate),
                get("/characters/{id}/export", self._export),
                get("/characters/{id}/dry-run", self._dry_run),
                post("/characters/{id}/dry-run", self._dry_run),
                get("/chat/{id}", self._chat_page),
                post("/chat/{id}", self._chat),
                post("/chat/{id}/wipe", self._wipe),
                get("/soul", self._soul),
                post("/soul/{proposal}/{decision}", self._decide),
                post("/soul/rollback", self._rollback),
                get("/safety", self._safety),
                get("/people", self._people),
                post("/people/export", self._export_person),
                post("/people/forget", self._forget_person),
                get("/health", self._health),
            ]
        )
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Login for every route but /login; the CSRF token for every POST; the security headers."""
        if request.path != "/login":
            session = self._session(request)
            if session is None:
                if request.method == "GET" and request.path != "/static/studio.js":
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
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
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
            return _html(login_page("that link is used or wrong: paste the token"), 403)
        return _html(login_page())

    async def _login(self, request: web.Request) -> web.Response:
        form = await request.post()
        if self._accepts(str(form.get("token", ""))):
            raise self._logged_in()
        return _html(login_page("wrong token"), 403)

    async def _logout(self, request: web.Request) -> web.Response:
        self.sessions.pop(request.cookies.get(COOKIE, ""), None)
        raise web.HTTPFound("/login")

    async def _home(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/characters")

    async def _script(self, request: web.Request) -> web.Response:
        text = await asyncio.to_thread((STATIC / "studio.js").read_text, "utf-8")
        return web.Response(text=text, content_type="application/javascript")

    # --- characters -------------------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        return self.runtime.characters.directory

    def _card_path(self, request: web.Request) -> tuple[str, Path]:
        """The card file an id names: a file name inside characters_dir, never a path out of it."""
        card_id = request.match_info["id"]
        if not CARD_ID.match(card_id):
            raise web.HTTPNotFound(text="no such character")
        directory = self.directory.resolve()
        for suffix in CARD_SUFFIXES:
            path = (directory / f"{card_id}{suffix}").resolve()
            if path.parent == directory and path.is_file():
                return card_id, path
        raise web.HTTPNotFound(text="no such character")

    async def _characters(self, request: web.Request) -> web.Response:
        csrf = request[CSRF]
        library = self.runtime.characters
        rows = []
        for card_id in sorted({*library.cards, *library.problems}):
            problems = library.problems.get(card_id, [])
            status = (
                f'<span class="bad">invalid: {esc(problems[0])}</span>'
                if problems
                else '<span class="ok">valid</span>'
            )
            name = library.cards[card_id].name if card_id in library.cards else ""
            links = (
                f'<a href="/characters/{esc(card_id)}">edit</a> · '
                f'<a href="/characters/{esc(card_id)}/dry-run">dry run</a> · '
                f'<a href="/chat/{esc(card_id)}">chat</a> · '
                f'export <a href="/characters/{esc(card_id)}/export?format=v3">V3 JSON</a> '
                f'<a href="/characters/{esc(card_id)}/export?format=png">PNG</a>'
            )
            rows.append([esc(card_id), esc(name), status, links])
        body = (
            table(["id", "name", "status", ""], rows)
            + "<h2>New character</h2><form method=post action=/characters/new>"
            + csrf_field(csrf)
            + '<input name="name" placeholder="Name" required maxlength=64> <button>Create</button></form>'
            + "<h2>Import a Character Card (V2/V3 PNG or JSON)</h2>"
            + '<form method=post action=/characters/import enctype="multipart/form-data">'
            + csrf_field(csrf)
            + '<input type=file name="card" accept=".png,.json,.yaml,.yml" required> '
            + "<button>Import</button></form>"
        )
        return _html(page("Characters", body, csrf))

    async def _editor(self, request: web.Request, text: str | None = None, saved: str = "") -> web.Response:
        card_id, path = self._card_path(request)
        csrf = request[CSRF]
        if text is None:
            text = await asyncio.to_thread(path.read_text, "utf-8", "replace")
        findings = _findings(text, path) if saved != "saved" else []
        note = f'<p class="ok">{esc(saved)}</p>' if saved == "saved" else ""
        body = (
            f'{note}<p><a href="/characters/{esc(card_id)}/dry-run">dry run</a> · '
            f'<a href="/chat/{esc(card_id)}">test chat</a></p>'
            f'<form method=post action="/characters/{esc(card_id)}" id=editor>{csrf_field(csrf)}'
            '<div class=editor><textarea name="yaml" id=yaml rows=32 spellcheck=false>'
            f"{esc(text)}</textarea><div class=lines id=lines>{_lines_html(text, findings)}</div></div>"
            f'<p><button>Save</button> <span id=status class="{_status_class(findings)}">'
            f"{esc(_status_text(findings))}</span></p></form>"
        )
        return _html(page(card_id, body, csrf, script=True), 400 if saved == "invalid" else 200)

    async def _validate(self, request: web.Request) -> web.Response:
        _, path = self._card_path(request)
        text = await _bounded_text(request)
        findings = await asyncio.to_thread(_findings, text, path)
        return web.json_response(
            {
                "valid": not any(f.severity == "error" for f in findings),
                "problems": [f.as_json() for f in findings],
                "html": _lines_html(text, findings),
            }
        )

    async def _save(self, request: web.Request) -> web.Response:
        card_id, path = self._card_path(request)
        text = await _bounded_text(request)
        findings = await asyncio.to_thread(_findings, text, path)
        if any(f.severity == "error" for f in findings):
            return await self._editor(request, text, "invalid")
        await asyncio.to_thread(atomic_write, path, text.encode("utf-8"))
        await self.runtime.characters.reload([path])  # the next message uses it (the watcher agrees)
        log.warning("studio: the creator saved card %s (%d bytes)", card_id, len(text.encode()))
        return await self._editor(request, None, "saved")

    async def _new_card(self, request: web.Request) -> web.Response:
        from anima.characters.importer import card_id_for

        name = str((await request.post()).get("name", "")).strip()[:64]
        if not name:
            raise web.HTTPBadRequest(text="give the character a name")
        card_id = card_id_for(name, name)
        path = self.directory / f"{card_id}.yaml"
        if not CARD_ID.match(card_id) or any(path.with_suffix(s).exists() for s in CARD_SUFFIXES):
            raise web.HTTPConflict(text=f"a card {card_id!r} exists already: pick another name")
        await asyncio.to_thread(atomic_write, path, card_template(name).encode("utf-8"))
        await self.runtime.characters.reload([path])
        log.warning("studio: the creator made card %s from the template", card_id)
        raise web.HTTPFound(f"/characters/{card_id}")

    async def _import_card(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("card")
        if not isinstance(upload, web.FileField):
            raise web.HTTPBadRequest(text="choose a card file to import")
        data = upload.file.read(MAX_CARD_BYTES + 1)
        try:
            imported = await asyncio.to_thread(
                install_card_reporting,
                data,
                upload.filename,
                self.directory,
                MAX_CARD_BYTES,
                False,
                self.runtime.settings.llm,
            )
        except ConfigError as exc:
            body = "".join(f"<pre class=bad>{esc(p)}</pre>" for p in exc.problems)
            return _html(page("Import refused", body, request[CSRF]), 400)
        card = imported.card
        await self.runtime.characters.reload([self.directory / f"{card.id}.yaml"])
        log.warning("studio: the creator imported card %s (%s)", card.id, imported.spec)
        raise web.HTTPFound(f"/characters/{card.id}")

    async def _export(self, request: web.Request) -> web.Response:
        card_id, _ = self._card_path(request)
        fmt = EXPORTS.get(request.query.get("format", "v3"))
        if fmt is None:
            raise web.HTTPBadRequest(text="format is v2, v3 (Character Card JSON) or png")
        card = self.runtime.characters.get(card_id)
        data = await asyncio.to_thread(export_card, card, fmt, self.directory)
        name = export_name(card, fmt)
        return web.Response(
            body=data,
            content_type="image/png" if fmt == "png" else "application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    # --- dry run ----------------------------------------------------------------------------------

    async def _dry_run(self, request: web.Request) -> web.Response:
        card_id, _ = self._card_path(request)
        csrf = request[CSRF]
        message = ""
        if request.method == "POST":
            message = str((await request.post()).get("message", ""))[:MAX_MESSAGE_CHARS]
        form = (
            f'<form method=post>{csrf_field(csrf)}<input name="message" size=60 value="{esc(message)}" '
            'placeholder="A message from the test person" required> <button>Dry run</button></form>'
        )
        if not message:
            return _html(page(f"Dry run: {card_id}", form, csrf))
        report = await self.explain(card_id, message)
        return _html(page(f"Dry run: {card_id}", form + report, csrf))

    async def explain(self, card_id: str, message: str) -> str:
        """The exact prompt the model would get for `message`, part by part, without calling it."""
        runtime = self.runtime
        card = runtime.characters.get(card_id)
        surface = StudioSurface(card.id, TEST_PERSON)
        incoming = surface.incoming(message)
        pipeline = runtime.pipeline
        conversation = await runtime.memory.conversation(pipeline.key_for(incoming, card), TEST_PERSON)
        history = list(conversation.recent)
        memories = await pipeline.recall(conversation, message, card, TEST_PERSON, len(history))
        learned = await pipeline.learned(card, incoming)
        backend = runtime.router.chain(card)[0]
        max_tokens = runtime.router.max_tokens(backend, card)
        turn = TurnContext(
            memories=memories,
            memory_tokens=runtime.settings.memory.recall_tokens,
            soul=learned,
            soul_tokens=card.growth.tokens,
        )
        prompt = await PromptBuilder(backend.counter).build(
            card, TEST_PERSON, history, message, backend.context_window, max_tokens, turn
        )
        budget = backend.context_window - max_tokens
        parts = []
        for m in prompt.messages:
            tokens = await backend.counter.count(m.content)
            parts.append([esc(m.role), f"{tokens:,}", f"<pre>{esc(m.content)}</pre>"])
        texts = [*(m.content for m in history), message]
        fired = activate(card.all_lorebooks, texts)
        lore = [
            [
                esc(", ".join(a.entry.keys) or "(no keys)"),
                esc(trigger_of(a, texts) or "another entry"),
                f"<pre>{esc(a.text[:400])}</pre>",
            ]
            for a in fired
        ]
        rules = await pipeline.safety.rules_for(incoming, card)
        ruled = ", ".join(f"{name}: {value}" for name, value in vars(rules).items())
        checks = [
            [esc(name), "not run in a dry run", ""]
            if v is None
            else [esc(name), esc(f"{v.action} {v.category}".strip()), esc(v.reason)]
            for name, v in await pipeline.safety.preview(incoming, card)
        ]
        return (
            f"<h2>Prompt: {prompt.tokens:,} of {budget:,} tokens (backend {esc(backend.name)})</h2>"
            + table(["role", "tokens", "text"], parts)
            + "<h2>Lorebook entries that fired</h2>"
            + (table(["keys", "triggered by", "text"], lore) if lore else "<p>none</p>")
            + "<h2>Memory recalled</h2>"
            + ("".join(f"<pre>{esc(m)}</pre>" for m in memories) or "<p>nothing recalled</p>")
            + f"<h2>Safety input checks</h2><p>rules: {esc(ruled)}</p>"
            + table(["check", "decision", "why"], checks)
            + '<p class="muted">Nothing was sent to the model.</p>'
        )

    # --- test chat --------------------------------------------------------------------------------

    async def _chat_page(self, request: web.Request) -> web.Response:
        card_id, _ = self._card_path(request)
        csrf = request[CSRF]
        body = (
            f'<div class=chatlog id=log></div><form id=chat action="/chat/{esc(card_id)}" method=post>'
            f'{csrf_field(csrf)}<input name="message" size=60 required maxlength={MAX_MESSAGE_CHARS} '
            "autocomplete=off> <button>Send</button></form>"
            f'<form method=post action="/chat/{esc(card_id)}/wipe" class=inline>{csrf_field(csrf)}'
            f"<button>Wipe the test person's memory</button></form>"
            f'<p class="muted">You talk as the test person {esc(TEST_PERSON)}, through the real pipeline.</p>'
        )
        return _html(page(f"Test chat: {card_id}", body, csrf, script=True))

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        """One message through the conversation service; the reply streams as NDJSON lines."""
        card_id, _ = self._card_path(request)
        message = str((await request.post()).get("message", ""))[:MAX_MESSAGE_CHARS]
        surface = StudioSurface(card_id, TEST_PERSON)
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        response.headers["Content-Security-Policy"] = CSP
        await response.prepare(request)
        since = datetime.now(UTC) - timedelta(seconds=1)
        work = asyncio.create_task(self.runtime.conversations.handle(surface.incoming(message), surface))

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
                    "verdicts": await self._verdicts(surface.chat_id, since),
                    "error": "" if failed is None else "the reply failed: see the log",
                }
            )
            await response.write_eof()
        except ConnectionResetError:  # the browser left: the turn still ends, and is stored, as on any chat
            await asyncio.gather(work, return_exceptions=True)
        return response

    async def _verdicts(self, chat_id: str, since: datetime) -> list[str]:
        audit = self.runtime.pipeline.safety.audit
        if audit is None:
            return []
        events = await audit.events(since, limit=50)
        return [
            f"{e.stage} {e.check}: {e.action} {e.category}".strip() for e in events if e.chat_id == chat_id
        ]

    async def _wipe(self, request: web.Request) -> web.Response:
        card_id, _ = self._card_path(request)
        deleted = await self.runtime.memory.forget_user(PLATFORM, TEST_PERSON)
        log.warning("studio: the creator wiped the test person's memory (%d messages)", deleted)
        raise web.HTTPFound(f"/chat/{card_id}")

    # --- soul -------------------------------------------------------------------------------------

    async def _soul(self, request: web.Request) -> web.Response:
        csrf = request[CSRF]
        soul = self.runtime.soul
        sections = []
        for card_id in sorted(self.runtime.characters.cards):
            pending = await soul.proposals(card_id)
            rows = []
            for p in pending:
                evidence = await soul.evidence(p)
                shown = "".join(
                    f"<pre>{esc(e.role)}: {esc(e.content)}</pre>" if not e.deleted else "<pre>(deleted)</pre>"
                    for e in evidence
                )
                buttons = "".join(
                    f'<form method=post action="/soul/{p.id}/{d}" class=inline>{csrf_field(csrf)}'
                    f"<button>{d}</button></form> "
                    for d in ("approve", "reject")
                )
                rows.append([f"#{p.id}", esc(p.kind), f"<ins>+ {esc(p.text)}</ins>", shown, buttons])
            history = await soul.history(card_id)
            versions = [
                [
                    str(v.version),
                    esc(v.action),
                    esc(v.note),
                    esc(v.approved_by),
                    f"<form method=post action=/soul/rollback class=inline>{csrf_field(csrf)}"
                    f'<input type=hidden name=character value="{esc(card_id)}">'
                    f'<input type=hidden name=version value="{v.version - 1}">'
                    f"<button>roll back to v{v.version - 1}</button></form>",
                ]
                for v in history
            ]
            current = await soul.entries(card_id)
            sections.append(
                f"<h2>{esc(card_id)}</h2><h3>Pending</h3>"
                + (table(["id", "kind", "diff", "evidence", ""], rows) if rows else "<p>none</p>")
                + "<h3>Learned now</h3>"
                + ("".join(f"<pre>{esc(e.kind)}: {esc(e.text)}</pre>" for e in current) or "<p>nothing</p>")
                + "<h3>History</h3>"
                + (table(["version", "action", "note", "by", ""], versions) if versions else "<p>none</p>")
            )
        return _html(page("Soul", "".join(sections), csrf))

    async def _decide(self, request: web.Request) -> web.Response:
        decision = request.match_info["decision"]
        try:
            proposal_id = int(request.match_info["proposal"])
        except ValueError:
            raise web.HTTPNotFound() from None
        soul = self.runtime.soul
        try:
            proposal = await soul.proposal(proposal_id)
            if decision == "approve":
                card = self.runtime.characters.cards.get(proposal.character_id)
                await soul.approve(proposal_id, "studio", card.growth if card else None)
            elif decision == "reject":
                await soul.reject(proposal_id, "studio")
            else:
                raise web.HTTPNotFound()
        except AnimaError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        log.warning("studio: the creator chose %s for soul proposal #%d", decision, proposal_id)
        raise web.HTTPFound("/soul")

    async def _rollback(self, request: web.Request) -> web.Response:
        form = await request.post()
        card_id = str(form.get("character", ""))
        try:
            version = int(str(form.get("version", "")))
            await self.runtime.soul.rollback(card_id, version, "studio")
        except (ValueError, AnimaError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        log.warning("studio: the creator rolled %s's soul back to version %d", card_id, version)
        raise web.HTTPFound("/soul")

    # --- safety, people, health -------------------------------------------------------------------

    async def _safety(self, request: web.Request) -> web.Response:
        csrf = request[CSRF]
        audit = self.runtime.pipeline.safety.audit
        q = request.query
        hours = _int(q.get("hours", "24"), 24)
        since = datetime.now(UTC) - timedelta(hours=hours)
        form = (
            "<form method=get>"
            + "".join(
                f'<label>{name} <input name="{name}" value="{esc(q.get(name, ""))}" size=12></label> '
                for name in ("chat", "check", "category")
            )
            + f'<label>hours <input name=hours value="{hours}" size=4></label> <button>Filter</button></form>'
        )
        if audit is None:
            return _html(page("Safety", "<p>no audit (no database)</p>", csrf))
        events = [
            e
            for e in await audit.events(since, limit=500)
            if all(
                not q.get(k) or q[k] == getattr(e, a)
                for k, a in (("chat", "chat_id"), ("check", "check"), ("category", "category"))
            )
        ]
        rows = [
            [
                esc(e.created_at),
                esc(e.platform),
                esc(e.chat_id),
                esc(e.stage),
                esc(e.check),
                esc(e.action),
                esc(e.category),
            ]
            for e in events
        ]
        counts = [
            [
                esc(r.stage),
                esc(r.check),
                esc(r.action),
                esc(r.category),
                str(r.count),
                str(r.chats),
                str(r.users),
            ]
            for r in await audit.report(since)
        ]
        body = (
            form
            + "<h2>Counts</h2>"
            + (
                table(["stage", "check", "action", "category", "count", "chats", "people"], counts)
                if counts
                else "<p>no decisions other than allow</p>"
            )
            + "<h2>Events</h2>"
            + (
                table(["when", "platform", "chat", "stage", "check", "action", "category"], rows)
                if rows
                else "<p>none</p>"
            )
        )
        return _html(page("Safety", body, csrf))

    async def _people(self, request: web.Request) -> web.Response:
        csrf = request[CSRF]
        who = request.query.get("user", "")[:200]
        body = (
            f'<form method=get><input name=user value="{esc(who)}" placeholder="user id"> '
            "<button>Look up</button></form>"
        )
        if who:
            found = await self.runtime.memory.users(who, None)
            if not found:
                body += f"<p>nobody called {esc(who)}</p>"
            for platform, user_id in found:
                data = await self.runtime.memory.export_user(platform, user_id) or {}
                body += f"<h2>{esc(user_id)} on {esc(platform)}</h2>"
                for key in ("facts", "summaries", "relationships"):
                    items = data.get(key) or [
                        item for c in data.get("conversations", []) for item in c.get(key, [])
                    ]
                    body += f"<h3>{key}</h3>" + (
                        "".join(f"<pre>{esc(json.dumps(i, ensure_ascii=False))}</pre>" for i in items)
                        or "<p>none</p>"
                    )
                hidden = (
                    f'<input type=hidden name=platform value="{esc(platform)}">'
                    f'<input type=hidden name=user value="{esc(user_id)}">'
                )
                body += (
                    f"<form method=post action=/people/export class=inline>{csrf_field(csrf)}{hidden}"
                    "<button>Export JSON</button></form> "
                    f"<form method=post action=/people/forget class=inline>{csrf_field(csrf)}{hidden}"
                    "<label><input type=checkbox name=confirm value=yes required> "
                    "yes, forget everything about them</label> "
                    "<button>Forget</button></form>"
                )
        return _html(page("People", body, csrf))

    async def _export_person(self, request: web.Request) -> web.Response:
        form = await request.post()
        platform, user_id = str(form.get("platform", "")), str(form.get("user", ""))
        data = await self.runtime.memory.export_user(platform, user_id)
        if data is None:
            raise web.HTTPNotFound(text="no such person")
        log.warning("studio: the creator exported %s on %s", user_id, platform)
        return web.json_response(
            data,
            dumps=lambda d: json.dumps(d, ensure_ascii=False, indent=2),
            headers={"Content-Disposition": 'attachment; filename="person.json"'},
        )

    async def _forget_person(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("confirm") != "yes":
            raise web.HTTPBadRequest(text="tick the confirmation to forget a person")
        platform, user_id = str(form.get("platform", "")), str(form.get("user", ""))
        deleted = await self.runtime.memory.forget_user(platform, user_id)
        log.warning("studio: the creator forgot %s on %s (%d messages)", user_id, platform, deleted)
        return _html(
            page(
                "People",
                f"<p>forgot {esc(user_id)} on {esc(platform)}: {deleted} messages</p>",
                request[CSRF],
            )
        )

    async def _health(self, request: web.Request) -> web.Response:
        runtime = self.runtime
        router = runtime.router
        rows = []
        for name in runtime.settings.llm.backends:
            skip = router.breaker.open_s(name)
            rows.append(
                [esc(name), '<span class="bad">open</span>' if skip else '<span class="ok">closed</span>']
            )
        bots = runtime.settings.bots
        stats = router.stats
        body = (
            "<h2>Bots configured</h2>"
            + table(
                ["platform", "count"],
                [["telegram", str(len(bots.telegram))], ["discord", str(len(bots.discord))]],
            )
            + "<h2>Backends and breakers</h2>"
            + table(["backend", "breaker"], rows)
            + "<h2>Queue and metrics</h2>"
            + table(
                ["what", "value"],
                [
                    ["messages waiting or answered now", str(len(runtime.pipeline.admission))],
                    ["replies in flight", str(runtime.pipeline.in_flight)],
                    [
                        "cards valid / invalid",
                        f"{len(runtime.characters.cards)} / {len(runtime.characters.problems)}",
                    ],
                    [
                        "LLM retries / skipped / failures",
                        f"{stats.retries} / {stats.skipped} / {stats.failures}",
                    ],
                ],
            )
        )
        return _html(page("Health", body, request[CSRF]))


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html")


def _int(value: str, default: int) -> int:
    return int(value) if value.isdigit() and len(value) < 6 else default


async def _bounded_text(request: web.Request) -> str:
    """The `yaml` field, at most a card file's size (limits.py), before it is parsed."""
    form = await request.post()
    text = str(form.get("yaml", ""))
    if len(text.encode("utf-8")) > MAX_CARD_FILE_BYTES:
        raise web.HTTPRequestEntityTooLarge(MAX_CARD_FILE_BYTES, len(text.encode("utf-8")))
    return text


def _findings(text: str, path: Path) -> list[Finding]:
    """The errors `anima card validate` gives for this text saved at `path` (the same bounded loading)."""
    try:
        load_card_bytes(text.encode("utf-8"), path)
    except ConfigError as exc:
        return [parse_problem(p) for p in exc.problems]
    return []


def _lines_html(text: str, findings: list[Finding]) -> str:
    """The YAML's lines, numbered, each error shown under its line."""
    at: dict[int, list[Finding]] = {}
    for f in findings:
        at.setdefault(f.line or 1, []).append(f)
    out = []
    for number, line in enumerate(text.splitlines() or [""], start=1):
        problems = at.pop(number, [])
        cls = ' class="err"' if problems else ""
        out.append(f'<div{cls} data-line="{number}">{number:>3}  {esc(line)}')
        for f in problems:
            out.append(_problem_html(f, number))
        out.append("</div>")
    for number, rest in sorted(at.items()):  # past the end (a truncated file)
        out += [f'<div class="err">{_problem_html(f, number)}</div>' for f in rest]
    return "".join(out)


def _problem_html(f: Finding, line: int) -> str:
    """One error as `anima card validate` words it: file:line: field: message."""
    field = f"{esc(f.field)}: " if f.field else ""
    return f"<span class=msg>{esc(f.file)}:{line}: {field}{esc(f.message)}</span>"


def _status_class(findings: list[Finding]) -> str:
    return "bad" if findings else "ok"


def _status_text(findings: list[Finding]) -> str:
    return f"{len(findings)} problem(s)" if findings else "valid"


async def open_studio(runtime: Runtime, host: str, port: int, token: str | None) -> tuple[web.AppRunner, str]:
    """Start serving the studio; returns the runner and the line to print: the one-time link when
    no token was configured (it holds the secret: it goes to the terminal, never to the log)."""
    one_time = not token
    studio = Studio(runtime, token or secrets.token_urlsafe(24), one_time)
    runner = web.AppRunner(studio.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    shown = f"http://{host}:{runner.addresses[0][1]}"
    if one_time:
        return runner, f"anima studio: open {shown}/login?token={studio.token} (this link works once)"
    return runner, f"anima studio: open {shown}/login and paste ANIMA_STUDIO_TOKEN"


async def serve_studio(
    runtime: Runtime, host: str, port: int, token: str | None, stop: asyncio.Event
) -> None:
    """Serve the studio until `stop` is set."""
    runner, line = await open_studio(runtime, host, port, token)
    print(line, flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
