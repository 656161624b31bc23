"""The card form: the common fields of a card (name, persona, backstory, greetings, rules, example
dialogue, lorebook entries, voice, rating, avatar) for a creator who has never seen YAML. It
validates as they type, with the same file:line: field errors as the YAML view, each shown beside
its field; Save writes the YAML atomically (what the form did not change stays as written) and
hot-reloads it."""

from __future__ import annotations

import asyncio
import io
import logging

from aiohttp import web
from PIL import Image

from anima.bots.studio.card_form import ENGINES, RATINGS, CardForm, LoreRow, TooMany
from anima.bots.studio.characters import write_card
from anima.bots.studio.context import CSRF, card_path, html, runtime
from anima.bots.studio.pages import csrf_field, esc, page
from anima.bots.studio.validation import findings_of, problem_html, status_of
from anima.characters.importer import atomic_write
from anima.characters.validate import Finding
from anima.errors import ConfigError
from anima.yaml_source import read_bounded

log = logging.getLogger(__name__)
MAX_AVATAR_BYTES = 5 * 1024 * 1024
MAX_AVATAR_PIXELS = 40_000_000
NOT_A_PICTURE = "the avatar must be a PNG, JPEG or WebP picture"
AVATAR_TYPES = {b"\x89PNG\r\n\x1a\n": ".png", b"\xff\xd8\xff": ".jpg", b"RIFF": ".webp"}
AVATAR_CONTENT = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
FIELDS = (  # the card's keys the form shows: a problem of any other goes at the top
    *("name", "description", "personality", "scenario", "backstory", "greeting", "rules"),
    *("example_dialogue", "lorebook", "voice", "safety", "avatar"),
)
LABELS = {
    "name": "Name",
    "description": "Persona: who {{char}} is, in a few sentences (required)",
    "personality": "Personality",
    "scenario": "Scenario: where and when the talk happens",
    "backstory": "Backstory",
}


async def form_page(request: web.Request) -> web.Response:
    card_id, path = card_path(request)
    text = await asyncio.to_thread(path.read_text, "utf-8", "replace")
    try:
        form = CardForm.of_card(text, path)
    except ConfigError as exc:
        return _unreadable(request, card_id, exc)
    findings = await asyncio.to_thread(findings_of, text, path)
    note = "saved" if request.query.get("saved") else ""
    return html(page(card_id, _body(request, card_id, form, findings, note), request[CSRF], script=True))


async def validate_form(request: web.Request) -> web.Response:
    """The problems the card would have with the form's values, each under its field."""
    _, path = card_path(request)
    form = await _posted(request)
    text = await asyncio.to_thread(path.read_text, "utf-8", "replace")
    try:
        findings = await asyncio.to_thread(findings_of, form.apply(text, path), path)
    except ConfigError as exc:
        return web.json_response(
            {"valid": False, "fields": {"other": _problems_html(exc)}, "status": "unreadable"}
        )
    css, words = status_of(findings)
    return web.json_response(
        {"valid": not findings, "fields": _by_field(findings), "status": words, "class": css}
    )


async def save_form(request: web.Request) -> web.Response:
    card_id, path = card_path(request)
    posted = await request.post()
    form = await _posted(request)
    avatar = await _avatar(posted.get("avatar"), card_id)
    text = await asyncio.to_thread(path.read_text, "utf-8", "replace")
    try:
        new = form.apply(text, path, avatar[0] if avatar else "")
    except ConfigError as exc:
        return _unreadable(request, card_id, exc)
    if avatar:
        form.avatar = avatar[0]
    findings = await asyncio.to_thread(findings_of, new, path)
    if any(f.severity == "error" for f in findings):
        body = _body(request, card_id, form, findings, "")
        return html(page(card_id, body, request[CSRF], script=True), 400)
    if avatar:  # the picture first, so the card never names a missing one
        await asyncio.to_thread(atomic_write, path.parent / avatar[0], avatar[1])
        log.warning(
            "studio: the creator gave card %s the avatar %s (%d bytes)", card_id, avatar[0], len(avatar[1])
        )
    await write_card(request, card_id, path, new, "form")
    raise web.HTTPFound(f"/characters/{card_id}/form?saved=1")


async def avatar_image(request: web.Request) -> web.Response:
    """The card's avatar picture, when it is an image file next to the card."""
    card_id, path = card_path(request)
    card = runtime(request).characters.cards.get(card_id)
    name = card.avatar if card else None
    picture = (path.parent / name).resolve() if name else None
    if picture is None or picture.parent != path.parent or picture.suffix.lower() not in AVATAR_CONTENT:
        raise web.HTTPNotFound(text="no avatar")
    try:
        data = await asyncio.to_thread(read_bounded, picture, MAX_AVATAR_BYTES * 4, "an avatar")
    except ConfigError:
        raise web.HTTPNotFound(text="no avatar") from None
    return web.Response(body=data, content_type=AVATAR_CONTENT[picture.suffix.lower()])


async def _posted(request: web.Request) -> CardForm:
    try:
        return CardForm.of_post(await request.post())
    except TooMany as exc:
        raise web.HTTPRequestEntityTooLarge(0, 0, text=str(exc)) from None


async def _avatar(upload: object, card_id: str) -> tuple[str, bytes] | None:
    """An uploaded picture (PNG, JPEG or WebP, capped, its pixels counted before it is decoded) and
    the file name it gets next to the card; None when none was chosen."""
    if not isinstance(upload, web.FileField):
        return None
    data = upload.file.read(MAX_AVATAR_BYTES + 1)
    if not data:
        return None
    if len(data) > MAX_AVATAR_BYTES:
        raise web.HTTPRequestEntityTooLarge(
            MAX_AVATAR_BYTES, len(data), text="the avatar is over 5 MB: make it smaller"
        )
    suffix = next((s for magic, s in AVATAR_TYPES.items() if data.startswith(magic)), None)
    if suffix == ".webp" and data[8:12] != b"WEBP":
        suffix = None
    problem = NOT_A_PICTURE if suffix is None else await asyncio.to_thread(_picture_problem, data)
    if problem:
        raise web.HTTPBadRequest(text=problem)
    return f"{card_id}{suffix}", data


def _picture_problem(data: bytes) -> str:
    """Why `data` is no avatar ("" when it is one): its size is read from the header, never decoded."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_AVATAR_PIXELS:
                return f"the avatar is {width:,}×{height:,} pixels: make it smaller (2048×2048 is plenty)"
            image.verify()
    except Image.DecompressionBombError:
        return "the avatar has too many pixels: make it smaller (2048×2048 is plenty)"
    except Exception:  # Pillow raises many kinds for a broken file: each means "not a picture"
        return NOT_A_PICTURE
    return ""


def _top_key(finding: Finding) -> str:
    key = finding.field.replace("[", ".").split(".", 1)[0]
    return key if key in FIELDS else "other"


def _by_field(findings: list[Finding]) -> dict[str, str]:
    shown: dict[str, str] = {key: "" for key in (*FIELDS, "other")}
    for f in findings:
        shown[_top_key(f)] += problem_html(f, f.line)
    return shown


def _problems_html(exc: ConfigError) -> str:
    return "".join(f"<span class=msg>{esc(p)}</span>" for p in exc.problems)


def _unreadable(request: web.Request, card_id: str, exc: ConfigError) -> web.Response:
    body = (
        '<p class="bad">The form cannot read this card: fix it in the '
        f'<a href="/characters/{esc(card_id)}">YAML view</a> first.</p>{_problems_html(exc)}'
    )
    return html(page(card_id, body, request[CSRF]), 400)


def _problems(shown: dict[str, str], key: str) -> str:
    return f'<div class="problems" data-for="{key}">{shown.get(key, "")}</div>'


def _text_field(key: str, value: str, shown: dict[str, str]) -> str:
    if key == "name":
        field = f'<input name="name" value="{esc(value)}" maxlength=1000>'
    else:
        rows = 4 if key == "description" else 2
        field = f'<textarea name="{key}" rows={rows}>{esc(value)}</textarea>'
    return f"<label>{esc(LABELS[key])}{field}</label>{_problems(shown, key)}"


def _fieldset(legend: str, inner: str) -> str:
    return f"<fieldset><legend>{esc(legend)}</legend>{inner}</fieldset>"


def _options(choices: tuple[str, ...], chosen: str) -> str:
    return "".join(f"<option{' selected' if c == chosen else ''}>{esc(c)}</option>" for c in choices)


def _body(request: web.Request, card_id: str, form: CardForm, findings: list[Finding], note: str) -> str:
    shown = _by_field(findings)
    css, words = status_of(findings)
    at = f"/characters/{esc(card_id)}"
    texts = "".join(_text_field(key, form.texts.get(key, ""), shown) for key in LABELS)
    greetings = _rows(
        "greeting", [f'<textarea name="greeting" rows=2>{esc(g)}</textarea>' for g in [*form.greetings, ""]]
    )
    rules = _rows("rule", [f'<input name="rule" value="{esc(r)}">' for r in [*form.rules, ""]])
    examples = _rows(
        "example",
        [
            f'<input name="example_user" value="{esc(u)}" placeholder="they say"> '
            f'<input name="example_char" value="{esc(c)}" placeholder="{{{{char}}}} answers">'
            for u, c in [*form.examples, ("", "")]
        ],
    )
    if form.entries is None:
        lore = (
            f'<p class="muted">Too many entries for a form: edit them in the <a href="{at}">YAML view</a></p>'
        )
    else:
        entries = [_entry(e) for e in [*form.entries, LoreRow([], "")]]
        lore = "<input type=hidden name=lore_shown value=1>" + _rows("lore", entries)
    avatar = (
        f'<img src="{at}/avatar" alt="avatar" class=avatar> {esc(form.avatar)}' if form.avatar else "none yet"
    )
    voice = (
        f"<label>voice engine <select name=voice_engine>{_options(ENGINES, form.voice_engine)}</select>"
        "</label>"
        f'<label>voice <input name=voice_name value="{esc(form.voice_name)}" size=14 placeholder="en-us">'
        f'</label><label>speed <input name=voice_speed value="{esc(form.voice_speed)}" size=4></label>'
        f"{_problems(shown, 'voice')}"
        f"<label>rating <select name=rating>{_options(RATINGS, form.rating)}</select></label>"
        f"{_problems(shown, 'safety')}"
    )
    picture = (
        f"<p>{avatar}</p>"
        '<input type=file name="avatar" accept="image/png,image/jpeg,image/webp"> PNG, JPEG or WebP, 5 MB'
        " at most"
        f"{_problems(shown, 'avatar')}"
    )
    saved = f'<p class="ok">{esc(note)}</p>' if note else ""
    return (
        f'{saved}<p><a href="{at}">YAML view</a> · <a href="{at}/dry-run">dry run</a> · '
        f'<a href="/chat/{esc(card_id)}">test chat</a> · <a href="{at}/online">put online</a></p>'
        + _problems(shown, "other")
        + f'<form method=post action="{at}/form" id=cardform enctype="multipart/form-data">'
        + csrf_field(request[CSRF])
        + _fieldset("Who they are", texts)
        + _fieldset("Greetings: the first message is one of these", greetings + _problems(shown, "greeting"))
        + _fieldset("Rules: always in the prompt", rules + _problems(shown, "rules"))
        + _fieldset("Example dialogue", examples + _problems(shown, "example_dialogue"))
        + _fieldset(
            "Lorebook: what {{char}} knows when a key word comes up", lore + _problems(shown, "lorebook")
        )
        + _fieldset("Voice and rating", voice)
        + _fieldset("Avatar", picture)
        + f'<p><button>Save</button> <span id=status class="{css}">{esc(words)}</span></p></form>'
        + '<p class="muted">Emptied rows go when you save; {{char}} and {{user}} stand for names.</p>'
    )


def _rows(group: str, rows: list[str]) -> str:
    shown = "".join(f'<div class=row data-group="{group}">{row}</div>' for row in rows)
    return f'{shown}<button type=button data-add="{group}">add</button>'


def _entry(entry: LoreRow) -> str:
    index = "" if entry.index is None else str(entry.index)
    return (
        f'<input type=hidden name=lore_index value="{index}">'
        f'<input name=lore_keys value="{esc(", ".join(entry.keys))}" placeholder="key words, with commas"> '
        f'<textarea name=lore_content rows=2 placeholder="what {{{{char}}}} knows">'
        f"{esc(entry.content)}</textarea>"
    )


ROUTES = [
    web.get("/characters/{id}/form", form_page),
    web.post("/characters/{id}/form", save_form),
    web.post("/characters/{id}/form/validate", validate_form),
    web.get("/characters/{id}/avatar", avatar_image),
]
