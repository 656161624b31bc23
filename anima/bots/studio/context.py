"""What every studio page reads from its request: the studio's state, the session's CSRF token, the
card file a path names (a file name inside characters_dir, never a path out of it), and the
bounded form fields; and how a page answers."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from anima.bots.services import Services
from anima.characters.library import CARD_SUFFIXES
from anima.characters.limits import MAX_CARD_FILE_BYTES

if TYPE_CHECKING:
    from anima.bots.service import Fleet

CARD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
MAX_MESSAGE_CHARS = 4000
TEST_PERSON = "studio-tester"


@dataclass
class StudioState:
    """What the pages work on: the runtime, and the bots `anima run` serves (None under `anima studio`)."""

    runtime: Services
    fleet: Fleet | None = None
    config_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one change of config.yaml at a time


STUDIO = web.AppKey("studio", StudioState)
CSRF = web.RequestKey("csrf", str)  # the session's CSRF token, for the page's forms


def state(request: web.Request) -> StudioState:
    return request.app[STUDIO]


def runtime(request: web.Request) -> Services:
    return request.app[STUDIO].runtime


def html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html")


def card_path(request: web.Request) -> tuple[str, Path]:
    """The card file the path's {id} names: a file name inside characters_dir, never a path out of it."""
    card_id = request.match_info["id"]
    if not CARD_ID.match(card_id):
        raise web.HTTPNotFound(text="no such character")
    directory = runtime(request).characters.directory.resolve()
    for suffix in CARD_SUFFIXES:
        path = (directory / f"{card_id}{suffix}").resolve()
        if path.parent == directory and path.is_file():
            return card_id, path
    raise web.HTTPNotFound(text="no such character")


def bounded(value: object, limit: int = MAX_CARD_FILE_BYTES) -> str:
    """A form field as text, refused (413) past `limit` bytes before anything parses it."""
    text = "" if value is None or isinstance(value, web.FileField) else str(value)
    size = len(text.encode("utf-8"))
    if size > limit:
        raise web.HTTPRequestEntityTooLarge(limit, size)
    return text


def number(value: str, default: int) -> int:
    return int(value) if value.isdigit() and len(value) < 6 else default
