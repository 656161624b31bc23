"""The Soul page: each character's pending proposals with the messages behind them, approve or
reject, what is learned now, the history, and a rollback to an earlier version."""

from __future__ import annotations

import logging

from aiohttp import web

from anima.bots.studio.context import CSRF, html, runtime
from anima.bots.studio.pages import csrf_field, esc, page, table
from anima.errors import AnimaError

log = logging.getLogger(__name__)


async def soul_page(request: web.Request) -> web.Response:
    csrf = request[CSRF]
    soul = runtime(request).soul
    sections = []
    for card_id in sorted(runtime(request).characters.cards):
        rows = []
        for p in await soul.proposals(card_id):
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
            for v in await soul.history(card_id)
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
    return html(page("Soul", "".join(sections), csrf))


async def decide(request: web.Request) -> web.Response:
    decision = request.match_info["decision"]
    try:
        proposal_id = int(request.match_info["proposal"])
    except ValueError:
        raise web.HTTPNotFound() from None
    soul = runtime(request).soul
    try:
        proposal = await soul.proposal(proposal_id)
        if decision == "approve":
            card = runtime(request).characters.cards.get(proposal.character_id)
            await soul.approve(proposal_id, "studio", card.growth if card else None)
        elif decision == "reject":
            await soul.reject(proposal_id, "studio")
        else:
            raise web.HTTPNotFound()
    except AnimaError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    log.warning("studio: the creator chose %s for soul proposal #%d", decision, proposal_id)
    raise web.HTTPFound("/soul")


async def rollback(request: web.Request) -> web.Response:
    form = await request.post()
    card_id = str(form.get("character", ""))
    try:
        version = int(str(form.get("version", "")))
        await runtime(request).soul.rollback(card_id, version, "studio")
    except (ValueError, AnimaError) as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    log.warning("studio: the creator rolled %s's soul back to version %d", card_id, version)
    raise web.HTTPFound("/soul")


ROUTES = [  # /soul/rollback before /soul/{proposal}/{decision}
    web.get("/soul", soul_page),
    web.post("/soul/rollback", rollback),
    web.post("/soul/{proposal}/{decision}", decide),
]
