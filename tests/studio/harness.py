"""A running studio for tests: a real Runtime (SQLite in a temp folder, cards copied there, the fake
OpenAI-compatible server as its backend) served on 127.0.0.1 from a thread of its own, so a
browser test drives it with Playwright's sync API while the server's loop keeps running."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from anima.app import Runtime
from anima.bots.service import Fleet, shut_down
from anima.bots.studio.server import Studio
from anima.config import load_settings
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.telegram_server import FakeTelegram

T = TypeVar("T")
TOKEN = "studio-test-token-7f3a"
MIRA = """\
name: Mira
description: Mira keeps the harbour's lighthouse and speaks softly.
rules:
  - Speak as {{char}}, in the first person.
greeting:
  - "Hello, {{user}}."
lorebook:
  entries:
    - keys: [lighthouse, beacon]
      content: The lighthouse of Vell was built in 1822 from granite.
"""
XSS = """\
name: "<img src=x onerror=\\"window.__xss = 1\\">"
description: "<script>window.__xss = 2</script> and <b onmouseover=alert(1)>bold</b>"
greeting:
  - "<svg onload='window.__xss = 3'></svg>"
"""


def card_folder(root: Path) -> Path:
    folder = root / "characters"
    folder.mkdir()
    (folder / "mira.yaml").write_text(MIRA, "utf-8")
    (folder / "hostile.yaml").write_text(XSS, "utf-8")
    return folder


CONFIG = """\
# The studio test's config: the fake OpenAI-compatible server as the only backend.
characters_dir: characters
default_character: mira
reload_characters: false
llm:
  default: fake
  backends:
    fake:
      kind: openai
      base_url: {base}
      model: m
      max_retries: 0
      timeout_s: 10
memory:
  database_url: sqlite+aiosqlite:///anima.db
  summarize_every: 0
  llm_facts_every: 0
"""


class RunningStudio:
    """The studio as `anima run` serves it (its bots in a Fleet the go-online page adds to)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="studio-test", daemon=True)
        self.url = ""

    def call(self, work: Coroutine[Any, Any, T], timeout_s: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout_s)

    def start(self) -> RunningStudio:
        self.thread.start()
        self.call(self._start(), 60)
        return self

    async def _start(self) -> None:
        self.fake = FakeOpenAI(reply="The lamp is lit. The sea is calm tonight, and the ships are home.")
        base = await self.fake.start()
        self.telegram = FakeTelegram()  # platforms for the bots the go-online page starts
        await self.telegram.start()
        self.discord = await FakeDiscord("Hostile", "studio-discord-token").start()
        card_folder(self.root)
        self.config = self.root / "config.yaml"
        self.config.write_text(CONFIG.format(base=base), "utf-8")
        self.runtime = await Runtime.start(load_settings(self.config))
        self.fleet = Fleet(self.runtime)
        self.studio = Studio(self.runtime, TOKEN, fleet=self.fleet)
        self.runner = web.AppRunner(self.studio.app(), access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    def stop(self) -> None:
        self.call(self._stop(), 60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _stop(self) -> None:
        await self.runner.cleanup()
        await shut_down(self.runtime, self.fleet.adapters, asyncio.Event())
        await self.telegram.close()
        await self.discord.close()
        await self.runtime.close()
        await self.fake.stop()
