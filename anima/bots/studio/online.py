"""Putting a character on Telegram or Discord: the config.yaml lines of a bot bound to it, with
the token read from the environment (`${TELEGRAM_TOKEN}`: the browser never sees or sends a token),
added to config.yaml on request (atomically, after the checks of `anima config check`, one log line
per change), and started at once when the studio runs inside `anima run` and the variable is set."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aiohttp import web
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from anima.bots.studio import yaml_edit
from anima.bots.studio.context import CSRF, card_path, html, state
from anima.bots.studio.pages import csrf_field, esc, page
from anima.characters.importer import atomic_write
from anima.config import Settings, config_path, settings_of
from anima.errors import AnimaError, ConfigError
from anima.ops.logs import Redactor
from anima.preflight import check_start
from anima.yaml_source import CONFIG_BOUNDS, display_path, parse_yaml

log = logging.getLogger(__name__)
Platform = Literal["telegram", "discord"]
VARIABLE = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
MAX_URL_CHARS = 200
REFUSED = "with this bot it would not pass `anima config check`:"
HOW_TO_GET = {
    "telegram": "In Telegram, talk to @BotFather: /newbot, pick a name; it gives you the token.",
    "discord": "In the Discord developer portal: New Application → Bot → Reset Token; turn on the "
    "Message Content intent, and invite the bot with the OAuth2 URL generator "
    "(scopes bot, applications.commands).",
}


@dataclass
class BotLine:
    """The bot the page describes: where, bound to which card, the token's variable, the API server."""

    platform: Platform
    character: str
    variable: str
    api: str = ""  # a local Bot API server (Telegram) or a Discord API proxy; empty: the platform's own

    def entry(self) -> CommentedMap:
        entry = CommentedMap(
            token=DoubleQuotedScalarString(f"${{{self.variable}}}"), character=self.character
        )
        if self.api and self.platform == "telegram":
            entry["base_url"] = f"{self.api}/bot"
            entry["base_file_url"] = f"{self.api}/file/bot"
        elif self.api:
            entry["api_base"] = self.api
        return entry

    def lines(self) -> str:
        """What to add to config.yaml, as it would read there."""
        bots = CommentedMap({self.platform: CommentedSeq([self.entry()])})
        return yaml_edit.dump(CommentedMap(bots=bots))


def config_file(settings: Settings) -> Path:
    return settings.source or config_path().resolve()


def _line_of(request: web.Request, values: dict[str, str], card_id: str) -> BotLine:
    platform: Platform = "discord" if values.get("platform") == "discord" else "telegram"
    variable = values.get("variable", "").strip()[:64] or default_variable(request, platform, card_id)
    if not VARIABLE.match(variable):
        raise ValueError("the token's variable is a name such as TELEGRAM_TOKEN (capitals, digits and _)")
    api = values.get("api", "").strip().rstrip("/")[:MAX_URL_CHARS]
    if api and not re.match(r"^https?://[^\s/]+", api):
        raise ValueError("the API server is an http:// or https:// address, or empty for the platform's own")
    return BotLine(platform, card_id, variable, api)


def default_variable(request: web.Request, platform: Platform, card_id: str) -> str:
    """TELEGRAM_TOKEN, unless a configured bot reads it already: then TELEGRAM_TOKEN_MIRA."""
    plain = f"{platform.upper()}_TOKEN"
    used = _variables_used(config_file(state(request).runtime.settings))
    return plain if plain not in used else f"{plain}_{_upper(card_id)}"


def _upper(card_id: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", card_id.upper())


def _variables_used(path: Path) -> set[str]:
    try:
        text = path.read_text("utf-8")[: CONFIG_BOUNDS.max_bytes]
    except OSError:
        return set()
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))


async def online_page(request: web.Request) -> web.Response:
    card_id, _ = card_path(request)
    values = {k: request.query.get(k, "") for k in ("platform", "variable", "api")}
    try:
        line = _line_of(request, values, card_id)
    except ValueError as exc:
        values = {"platform": values["platform"]}
        line = _line_of(request, values, card_id)
        return html(
            page(
                f"Put {card_id} online", _body(request, line, f'<p class="bad">{esc(exc)}</p>'), request[CSRF]
            )
        )
    return html(page(f"Put {card_id} online", _body(request, line, ""), request[CSRF]))


async def add_bot(request: web.Request) -> web.Response:
    """Add the bot to config.yaml (when the whole config then passes `anima config check`), and
    start it when the studio runs inside `anima run` and the token's variable is set."""
    card_id, _ = card_path(request)
    posted = await request.post()
    values = {k: str(posted.get(k, ""))[:MAX_URL_CHARS] for k in ("platform", "variable", "api")}
    title = f"Put {card_id} online"
    try:
        line = _line_of(request, values, card_id)
    except ValueError as exc:
        return html(page(title, f'<p class="bad">{esc(exc)}</p>', request[CSRF]), 400)
    studio = state(request)
    path = config_file(studio.runtime.settings)
    try:
        async with studio.config_lock:
            index, added = await asyncio.to_thread(_add_to_config, path, line)
    except ConfigError as exc:
        shown = "".join(f"<pre class=bad>{esc(p)}</pre>" for p in exc.problems)
        said = f"<p class=bad>{esc(display_path(path))} was not changed: {REFUSED}</p>{shown}"
        return html(page(title, _body(request, line, said), request[CSRF]), 400)
    where = f"bots.{line.platform}[{index}]"
    log.warning(
        "studio: the creator added %s to %s (character %s, token from ${%s})",
        where,
        display_path(path),
        card_id,
        line.variable,
    )
    said = f'<p class="ok">Added {esc(where)} to {esc(display_path(path))}.</p>' + await _start(
        request, line, added
    )
    return html(page(title, _body(request, line, said), request[CSRF]))


def _add_to_config(path: Path, line: BotLine) -> tuple[int, Settings]:
    """Write the bot into config.yaml, after the checks a start runs; its index, and the new settings."""
    text = path.read_text("utf-8") if path.exists() else ""
    doc = parse_yaml(text.encode("utf-8"), path, CONFIG_BOUNDS)  # bounded before ruamel reads it
    shown = display_path(path)
    raw = doc.data if isinstance(doc.data, dict) else {}
    configured = (raw.get("bots") or {}).get(line.platform) if isinstance(raw.get("bots"), dict) else None
    for i, bot in enumerate(configured if isinstance(configured, list) else []):
        if isinstance(bot, dict) and f"${{{line.variable}}}" in str(bot.get("token", "")):
            raise ConfigError(
                [
                    f"{shown}: bots.{line.platform}[{i}] reads {line.variable} already: one token is one "
                    f"bot; name another variable (e.g. {line.variable}_{_upper(line.character)})"
                ]
            )
    config = yaml_edit.load(text, shown)
    bots = config.get("bots")
    if not isinstance(bots, CommentedMap):
        bots = CommentedMap()
        yaml_edit.put(config, "bots", bots)
    platform_bots = bots.get(line.platform)
    if isinstance(platform_bots, CommentedSeq):
        platform_bots.append(line.entry())
        index = len(platform_bots) - 1
    else:
        yaml_edit.put(bots, line.platform, [line.entry()])
        index = 0
    new = yaml_edit.dump(config)
    written = parse_yaml(new.encode("utf-8"), path, CONFIG_BOUNDS)
    # The tokens may be set only where `anima run` runs: a bot's token variable missing here counts as set.
    env = dict(os.environ)
    for variable in _token_variables(written.data):
        env.setdefault(variable, "set-where-anima-run-runs")
    settings = settings_of(written, env)
    check_start(settings)
    atomic_write(path, new.encode("utf-8"))
    return index, settings


def _token_variables(data: object) -> set[str]:
    """The variables the bots' tokens read (`token: "${TELEGRAM_TOKEN}"`)."""
    bots = data.get("bots") if isinstance(data, dict) else None
    found: set[str] = set()
    for platform in ("telegram", "discord"):
        listed = bots.get(platform) if isinstance(bots, dict) else None
        for bot in listed if isinstance(listed, list) else []:
            token = bot.get("token") if isinstance(bot, dict) else None
            found |= set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", token if isinstance(token, str) else ""))
    return found


async def _start(request: web.Request, line: BotLine, settings: Settings) -> str:
    """Start the new bot when `anima run` serves this studio and its token is in the environment."""
    fleet = state(request).fleet
    run = f"<code>{esc(line.variable)}=… anima run</code>"
    if fleet is None:
        return f"<p>Start it: {run} (with <code>studio.port</code> set, it serves this studio too).</p>"
    if not os.environ.get(line.variable):
        return f"<p>{esc(line.variable)} is not set in this process's environment: set it, then {run}.</p>"
    bot = getattr(settings.bots, line.platform)[-1]
    try:
        served = await fleet.add(bot)
    except (AnimaError, OSError) as exc:
        redact = Redactor.for_settings(settings)
        log.warning("studio: the new %s bot did not start: %s", line.platform, redact(str(exc)))
        return f'<p class="bad">It did not start: {esc(redact(str(exc)))}</p>'
    log.warning("studio: the creator started %s", served.adapter.online)
    return f'<p class="ok">Started: {esc(served.adapter.online)}. See <a href="/health">Health</a>.</p>'


def _body(request: web.Request, line: BotLine, said: str) -> str:
    at = f"/characters/{esc(line.character)}/online"
    platforms = "".join(
        f"<label><input type=radio name=platform value={p}{' checked' if p == line.platform else ''}> "
        f"{p.title()}</label> "
        for p in ("telegram", "discord")
    )
    is_set = "is set" if os.environ.get(line.variable) else "is not set"
    api_label = (
        "Bot API server (a local one; empty: Telegram's)"
        if line.platform == "telegram"
        else "API base (a proxy; empty: Discord's)"
    )
    fields = (
        f"{platforms}<br><label>The token's environment variable "
        f'<input name=variable value="{esc(line.variable)}" size=28 pattern="[A-Z_][A-Z0-9_]*"></label> '
        f'<label>{esc(api_label)} <input name=api value="{esc(line.api)}" size=32></label>'
    )
    hidden = "".join(
        f'<input type=hidden name={name} value="{esc(value)}">'
        for name, value in (("platform", line.platform), ("variable", line.variable), ("api", line.api))
    )
    config = esc(display_path(config_file(state(request).runtime.settings)))
    return (
        said
        + f"<h2>1. The bot's token</h2><p>{esc(HOW_TO_GET[line.platform])}</p>"
        + "<p>Keep the token in the environment, never in config.yaml or here: "
        + f"<code>export {esc(line.variable)}=&lt;the token&gt;</code> "
        + f"({esc(line.variable)} {is_set} in the studio's environment).</p>"
        + f'<h2>2. The config line</h2><form method=get action="{at}">{fields} <button>Show</button></form>'
        + f"<pre id=config-lines>{esc(line.lines())}</pre>"
        + f'<form method=post action="{at}">{csrf_field(request[CSRF])}{hidden}'
        + f"<button>Add it to {config}</button></form>"
        + '<p class="muted">Added only when the whole file then passes the checks of '
        + "<code>anima config check</code> (a bot token's variable not set here counts as set).</p>"
        + "<h2>3. Start it</h2><p><code>anima config check</code>, then <code>anima run</code>. "
        + "Inside <code>anima run</code> (with <code>studio.port</code> set) the bot starts once added; "
        + '<a href="/health">Health</a> lists the bots online.</p>'
    )


ROUTES = [
    web.get("/characters/{id}/online", online_page),
    web.post("/characters/{id}/online", add_bot),
]
