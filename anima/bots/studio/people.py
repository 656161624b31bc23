"""The People page: look a person up — their facts, summaries and relationship lines — export them
as JSON, or forget them (after ticking the confirmation)."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from anima.bots.studio.context import CSRF, html, runtime
from anima.bots.studio.pages import csrf_field, esc, page

log = logging.getLogger(__name__)


async def people_page(request: web.Request) -> web.Response:
    csrf = request[CSRF]
    memory = runtime(request).memory
    who = request.query.get("user", "")[:200]
    body = (
        f'<form method=get><input name=user value="{esc(who)}" placeholder="user id"> '
        "<button>Look up</button></form>"
    )
    if not who:
        return html(page("People", body, csrf))
    found = await memory.users(who, None)
    if not found:
        body += f"<p>nobody called {esc(who)}</p>"
    for platform, user_id in found:
        data = await memory.export_user(platform, user_id) or {}
        body += f"<h2>{esc(user_id)} on {esc(platform)}</h2>"
        for key in ("facts", "summaries", "relationships"):
            items = data.get(key) or [item for c in data.get("conversations", []) for item in c.get(key, [])]
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
    return html(page("People", body, csrf))


async def export_person(request: web.Request) -> web.Response:
    form = await request.post()
    platform, user_id = str(form.get("platform", ""))[:200], str(form.get("user", ""))[:200]
    data = await runtime(request).memory.export_user(platform, user_id)
    if data is None:
        raise web.HTTPNotFound(text="no such person")
    log.warning("studio: the creator exported %s on %s", user_id, platform)
    return web.json_response(
        data,
        dumps=lambda d: json.dumps(d, ensure_ascii=False, indent=2),
        headers={"Content-Disposition": 'attachment; filename="person.json"'},
    )


async def forget_person(request: web.Request) -> web.Response:
    form = await request.post()
    if form.get("confirm") != "yes":
        raise web.HTTPBadRequest(text="tick the confirmation to forget a person")
    platform, user_id = str(form.get("platform", ""))[:200], str(form.get("user", ""))[:200]
    deleted = await runtime(request).memory.forget_user(platform, user_id)
    log.warning("studio: the creator forgot %s on %s (%d messages)", user_id, platform, deleted)
    said = f"<p>forgot {esc(user_id)} on {esc(platform)}: {deleted} messages</p>"
    return html(page("People", said, request[CSRF]))


ROUTES = [
    web.get("/people", people_page),
    web.post("/people/export", export_person),
    web.post("/people/forget", forget_person),
]
