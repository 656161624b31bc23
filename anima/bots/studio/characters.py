"""The Characters pages: every card and whether it validates, the YAML editor with live validation
(the file:line: field errors of `anima card validate`, beside their line), atomic saves that
hot-reload, new from the template, import by upload, export."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import web

from anima.bots.studio.context import CARD_ID, CSRF, bounded, card_path, html, runtime
from anima.bots.studio.pages import csrf_field, esc, page, table
from anima.bots.studio.validation import findings_of, lines_html, status_of
from anima.characters.exporter import ExportFormat, export_card, export_name
from anima.characters.importer import MAX_CARD_BYTES, atomic_write, card_id_for
from anima.characters.install import install_card_reporting
from anima.characters.library import CARD_SUFFIXES
from anima.characters.template import card_template
from anima.errors import ConfigError

log = logging.getLogger(__name__)
EXPORTS: dict[str, ExportFormat] = {"v2": "v2", "v3": "v3", "json": "v3", "png": "png"}


async def card_list(request: web.Request) -> web.Response:
    csrf = request[CSRF]
    library = runtime(request).characters
    rows = []
    for card_id in sorted({*library.cards, *library.problems}):
        problems = library.problems.get(card_id, [])
        status = (
            f'<span class="bad">invalid: {esc(problems[0])}</span>'
            if problems
            else '<span class="ok">valid</span>'
        )
        name = library.cards[card_id].name if card_id in library.cards else ""
        at = f"/characters/{esc(card_id)}"
        links = (
            f'<a href="{at}/form">edit</a> · <a href="{at}">YAML</a> · <a href="{at}/dry-run">dry run</a> · '
            f'<a href="/chat/{esc(card_id)}">chat</a> · <a href="{at}/online">put online</a> · '
            f'export <a href="{at}/export?format=v3">V3 JSON</a> <a href="{at}/export?format=png">PNG</a>'
        )
        rows.append([esc(card_id), esc(name), status, links])
    body = (
        table(["id", "name", "status", ""], rows)
        + "<h2>New character</h2><form method=post action=/characters/new>"
        + csrf_field(csrf)
        + '<input name="name" placeholder="Name" required maxlength=64> <button>Create</button>'
        + '<p class="muted">Made from the template, then opened in the form.</p></form>'
        + "<h2>Import a Character Card (V2/V3 PNG or JSON)</h2>"
        + '<form method=post action=/characters/import enctype="multipart/form-data">'
        + csrf_field(csrf)
        + '<input type=file name="card" accept=".png,.json,.yaml,.yml" required> '
        + "<button>Import</button></form>"
    )
    return html(page("Characters", body, csrf))


async def editor(request: web.Request) -> web.Response:
    return await _editor(request)


async def _editor(request: web.Request, text: str | None = None, saved: str = "") -> web.Response:
    card_id, path = card_path(request)
    csrf = request[CSRF]
    if text is None:
        text = await asyncio.to_thread(path.read_text, "utf-8", "replace")
    findings = findings_of(text, path) if saved != "saved" else []
    note = f'<p class="ok">{esc(saved)}</p>' if saved == "saved" else ""
    status_class, status_text = status_of(findings)
    at = f"/characters/{esc(card_id)}"
    body = (
        f'{note}<p><a href="{at}/form">form</a> · <a href="{at}/dry-run">dry run</a> · '
        f'<a href="/chat/{esc(card_id)}">test chat</a> · <a href="{at}/online">put online</a></p>'
        f'<form method=post action="{at}" id=editor>{csrf_field(csrf)}'
        '<div class=editor><textarea name="yaml" id=yaml rows=32 spellcheck=false>'
        f"{esc(text)}</textarea><div class=lines id=lines>{lines_html(text, findings)}</div></div>"
        f'<p><button>Save</button> <span id=status class="{status_class}">{esc(status_text)}</span></p>'
        "</form>"
    )
    return html(page(card_id, body, csrf, script=True), 400 if saved == "invalid" else 200)


async def validate(request: web.Request) -> web.Response:
    _, path = card_path(request)
    text = bounded((await request.post()).get("yaml"))
    findings = await asyncio.to_thread(findings_of, text, path)
    return web.json_response(
        {
            "valid": not any(f.severity == "error" for f in findings),
            "problems": [f.as_json() for f in findings],
            "html": lines_html(text, findings),
        }
    )


async def save(request: web.Request) -> web.Response:
    card_id, path = card_path(request)
    text = bounded((await request.post()).get("yaml"))
    findings = await asyncio.to_thread(findings_of, text, path)
    if any(f.severity == "error" for f in findings):
        return await _editor(request, text, "invalid")
    await write_card(request, card_id, path, text, "YAML editor")
    return await _editor(request, None, "saved")


async def write_card(request: web.Request, card_id: str, path: Path, text: str, via: str) -> None:
    """Write a validated card atomically and reload it: the next message of every bot uses it."""
    await asyncio.to_thread(atomic_write, path, text.encode("utf-8"))
    await runtime(request).characters.reload([path])  # the watcher agrees when it sees the file
    log.warning("studio: the creator saved card %s with the %s (%d bytes)", card_id, via, len(text.encode()))


async def new_card(request: web.Request) -> web.Response:
    name = str((await request.post()).get("name", "")).strip()[:64]
    if not name:
        raise web.HTTPBadRequest(text="give the character a name")
    card_id = card_id_for(name, name)
    directory = runtime(request).characters.directory
    path = directory / f"{card_id}.yaml"
    if not CARD_ID.match(card_id) or any(path.with_suffix(s).exists() for s in CARD_SUFFIXES):
        raise web.HTTPConflict(text=f"a card {card_id!r} exists already: pick another name")
    await asyncio.to_thread(atomic_write, path, card_template(name).encode("utf-8"))
    await runtime(request).characters.reload([path])
    log.warning("studio: the creator made card %s from the template", card_id)
    raise web.HTTPFound(f"/characters/{card_id}/form")


async def import_card(request: web.Request) -> web.Response:
    form = await request.post()
    upload = form.get("card")
    if not isinstance(upload, web.FileField):
        raise web.HTTPBadRequest(text="choose a card file to import")
    data = upload.file.read(MAX_CARD_BYTES + 1)
    directory = runtime(request).characters.directory
    try:
        imported = await asyncio.to_thread(
            install_card_reporting,
            data,
            upload.filename,
            directory,
            MAX_CARD_BYTES,
            False,
            runtime(request).settings.llm,
        )
    except ConfigError as exc:
        body = "".join(f"<pre class=bad>{esc(p)}</pre>" for p in exc.problems)
        return html(page("Import refused", body, request[CSRF]), 400)
    card = imported.card
    await runtime(request).characters.reload([directory / f"{card.id}.yaml"])
    log.warning("studio: the creator imported card %s (%s)", card.id, imported.spec)
    raise web.HTTPFound(f"/characters/{card.id}")


async def export(request: web.Request) -> web.Response:
    card_id, _ = card_path(request)
    fmt = EXPORTS.get(request.query.get("format", "v3"))
    if fmt is None:
        raise web.HTTPBadRequest(text="format is v2, v3 (Character Card JSON) or png")
    card = runtime(request).characters.get(card_id)
    data = await asyncio.to_thread(export_card, card, fmt, runtime(request).characters.directory)
    return web.Response(
        body=data,
        content_type="image/png" if fmt == "png" else "application/json",
        headers={"Content-Disposition": f'attachment; filename="{export_name(card, fmt)}"'},
    )


ROUTES = [  # /characters/new and /import before /characters/{id}, which would take their names
    web.get("/characters", card_list),
    web.post("/characters/new", new_card),
    web.post("/characters/import", import_card),
    web.get("/characters/{id}", editor),
    web.post("/characters/{id}", save),
    web.post("/characters/{id}/validate", validate),
    web.get("/characters/{id}/export", export),
]
