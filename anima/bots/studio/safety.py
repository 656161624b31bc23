"""The Safety page: the audit's events filtered by time (from, to: UTC), chat, check and category,
and the counts of `anima safety report` over the same time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from anima.bots.studio.context import CSRF, html, runtime
from anima.bots.studio.pages import esc, page, table

MAX_EVENTS = 500
FILTERS = (("chat", "chat_id"), ("check", "check"), ("category", "category"))


def moment(text: str) -> datetime | None:
    """A `datetime-local` field's value (or an ISO date) as UTC; None when empty; ValueError if no time."""
    text = text.strip()[:40]
    if not text:
        return None
    when = datetime.fromisoformat(text)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _shown(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%dT%H:%M") if when else ""


async def safety_page(request: web.Request) -> web.Response:
    csrf = request[CSRF]
    audit = runtime(request).pipeline.safety.audit
    q = request.query
    problem = ""
    try:
        since, until = moment(q.get("from", "")), moment(q.get("to", ""))
    except ValueError:
        since = until = None
        problem = '<p class="bad">from and to are times such as 2026-11-01T09:30 (UTC)</p>'
    if since is None and "from" not in q:
        since = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=24)
    form = (
        "<form method=get>"
        + f'<label>from <input type=datetime-local name="from" value="{esc(_shown(since))}"></label> '
        + f'<label>to <input type=datetime-local name="to" value="{esc(_shown(until))}"></label> (UTC) '
        + "".join(
            f'<label>{name} <input name="{name}" value="{esc(q.get(name, "")[:200])}" size=12></label> '
            for name, _ in FILTERS
        )
        + "<button>Filter</button></form>"
        + problem
    )
    if audit is None:
        return html(page("Safety", form + "<p>no audit (no database)</p>", csrf))
    events = [
        e
        for e in await audit.events(since, limit=MAX_EVENTS, until=until)
        if all(not q.get(k) or q[k] == getattr(e, a) for k, a in FILTERS)
    ]
    rows = [
        [esc(v) for v in (e.created_at, e.platform, e.chat_id, e.stage, e.check, e.action, e.category)]
        for e in events
    ]
    counts = [
        [esc(r.stage), esc(r.check), esc(r.action), esc(r.category), str(r.count), str(r.chats), str(r.users)]
        for r in await audit.report(since, until)
    ]
    body = (
        form
        + "<h2>Counts</h2>"
        + (
            table(["stage", "check", "action", "category", "count", "chats", "people"], counts)
            if counts
            else "<p>no decisions other than allow</p>"
        )
        + f"<h2>Events</h2><p class=muted>the newest {MAX_EVENTS} at most</p>"
        + (
            table(["when", "platform", "chat", "stage", "check", "action", "category"], rows)
            if rows
            else "<p>none</p>"
        )
    )
    return html(page("Safety", body, csrf))


ROUTES = [web.get("/safety", safety_page)]
