"""`anima run` serves the studio beside the bots when studio.port is set, and stops it with them."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from anima.app import Runtime
from anima.bots.service import serve
from anima.config import BotsSettings, Settings, StudioSettings
from tests.bots.test_telegram import bot_settings
from tests.fakes.llm import InstantLLM
from tests.fakes.telegram_server import FakeTelegram
from tests.ops.test_metrics import free_port


async def test_anima_run_serves_the_studio_when_its_port_is_set(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANIMA_STUDIO_TOKEN", "run-token-1")
    port = free_port()
    async with FakeTelegram() as tg:
        fake = tg.add_bot("aiko_bot", "Aiko")
        configured = settings.model_copy(
            update={
                "bots": BotsSettings(telegram=[bot_settings(tg, fake, group_messages_per_minute=0)]),
                "studio": StudioSettings(port=port),
            }
        )
        runtime = await Runtime.start(configured)
        runtime.router.register("embedded", InstantLLM())
        stop = asyncio.Event()
        serving = asyncio.create_task(serve(runtime, stop))
        url = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
                for _ in range(500):  # bounded at about 10 s, as a browser would retry
                    try:
                        async with session.post(f"{url}/login", data={"token": "run-token-1"}) as r:
                            if r.status == 200:
                                assert r.url.path == "/characters"
                                assert "aiko" in await r.text()
                                break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.02)
                else:
                    pytest.fail("the studio never answered")
        finally:
            stop.set()
            await asyncio.wait_for(serving, 30)
            await runtime.close()
    with pytest.raises(aiohttp.ClientConnectionError):  # stopped with the bots
        async with aiohttp.ClientSession() as session, session.get(f"{url}/login"):
            pass
