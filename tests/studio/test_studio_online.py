"""Putting a character online from the studio: the config lines read the token from the
environment, adding them keeps config.yaml as written and passes `anima config check`, the bot
starts inside `anima run` (the Telegram fake is the platform) and Health lists it."""

from __future__ import annotations

import aiohttp
import pytest

from anima.config import load_settings
from anima.preflight import check_start
from tests.studio.harness import TOKEN, RunningStudio


async def test_the_config_lines_read_the_token_from_the_environment(
    studio: RunningStudio, client: tuple[aiohttp.ClientSession, str]
) -> None:
    session, _ = client
    async with session.get(f"{studio.url}/characters/mira/online") as r:
        page = await r.text()
    assert "token: &quot;${TELEGRAM_TOKEN}&quot;\n      character: mira" in page
    assert 'name="token"' not in page and "type=password" not in page  # no token is ever asked for
    async with session.get(f"{studio.url}/characters/mira/online?platform=discord&variable=BAD-NAME") as r:
        assert "capitals, digits and _" in await r.text()


async def test_an_added_bot_is_written_checked_started_and_listed(
    studio: RunningStudio, client: tuple[aiohttp.ClientSession, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    session, csrf = client
    fake = studio.telegram.add_bot("mira_bot", "Mira")
    monkeypatch.setenv("MIRA_TELEGRAM_TOKEN", fake.token)
    api = studio.telegram.base_url.removesuffix("/bot")
    bot = {"platform": "telegram", "variable": "MIRA_TELEGRAM_TOKEN", "api": api, "csrf": csrf}
    async with session.post(f"{studio.url}/characters/mira/online", data=bot) as r:
        page = await r.text()
        assert r.status == 200, page
    assert "Added bots.telegram[0]" in page and "Mira is online as @mira_bot on Telegram" in page
    text = studio.config.read_text()
    assert text.startswith("# The studio test's config")  # the file as written, plus the bot
    assert 'token: "${MIRA_TELEGRAM_TOKEN}"' in text and fake.token not in text
    assert check_start(load_settings(studio.config)).cards  # `anima config check` agrees
    async with session.get(f"{studio.url}/health") as r:
        health = await r.text()
    assert "<td>telegram</td><td>mira</td><td>Mira is online as @mira_bot on Telegram</td>" in health
    assert "<td>received, not yet answered</td><td>0</td>" in health
    async with session.post(f"{studio.url}/characters/mira/online", data=bot) as r:
        assert r.status == 400 and "reads MIRA_TELEGRAM_TOKEN already" in await r.text()
    assert studio.config.read_text() == text  # refused: nothing written


async def test_a_bot_whose_token_is_not_set_here_is_written_with_how_to_start_it(  # after the one above
    studio: RunningStudio, client: tuple[aiohttp.ClientSession, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    session, csrf = client
    monkeypatch.delenv("HOSTILE_DISCORD_TOKEN", raising=False)
    monkeypatch.delenv("MIRA_TELEGRAM_TOKEN", raising=False)
    bot = {"platform": "discord", "variable": "HOSTILE_DISCORD_TOKEN", "csrf": csrf}
    async with session.post(f"{studio.url}/characters/hostile/online", data=bot) as r:
        page = await r.text()  # neither its token nor the other bot's is set here: both count as set
    assert "Added bots.discord[0]" in page and "HOSTILE_DISCORD_TOKEN is not set" in page
    assert len(studio.fleet.served) == 1  # not started


async def test_a_discord_bot_is_added_and_started_the_same_way(  # after the ones above
    studio: RunningStudio, client: tuple[aiohttp.ClientSession, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    session, csrf = client
    monkeypatch.setenv("MIRA_DISCORD_TOKEN", studio.discord.token)
    api = studio.discord.api_base
    bot = {"platform": "discord", "variable": "MIRA_DISCORD_TOKEN", "api": api, "csrf": csrf}
    async with session.post(f"{studio.url}/characters/mira/online", data=bot) as r:
        page = await r.text()
    assert "Added bots.discord[1]" in page and "Mira is online as @hostile on Discord" in page
    assert f"api_base: {api}" in studio.config.read_text()
    async with session.get(f"{studio.url}/health") as r:
        assert "<td>discord</td><td>mira</td>" in await r.text()


async def test_under_anima_studio_the_page_says_how_to_start_the_bot(
    studio: RunningStudio, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from anima.bots.studio.server import Studio

    alone = Studio(studio.runtime, TOKEN)  # `anima studio`: no bots of its own
    async with TestClient(TestServer(alone.app())) as http:
        page = await (await http.post("/login", data={"token": TOKEN})).text()
        csrf = page.split('name="csrf" content="', 1)[1].split('"', 1)[0]
        assert "`anima studio` serves no bots" in await (await http.get("/health")).text()
        bot = {"platform": "telegram", "variable": "MIRA_TOKEN_2", "csrf": csrf}
        page = await (await http.post("/characters/mira/online", data=bot)).text()
    assert "Added bots.telegram[1]" in page and "Start it: <code>MIRA_TOKEN_2=… anima run</code>" in page


async def test_a_config_the_check_refuses_is_left_as_it_was(
    studio: RunningStudio, client: tuple[aiohttp.ClientSession, str]
) -> None:
    session, csrf = client
    before = studio.config.read_text()
    broken = before.replace("default_character: mira", "default_character: nobody")
    studio.config.write_text(broken)
    try:
        bot = {"platform": "telegram", "variable": "MIRA_TOKEN_3", "csrf": csrf}
        async with session.post(f"{studio.url}/characters/mira/online", data=bot) as r:
            page = await r.text()
        assert r.status == 400 and "config.yaml:3: default_character:" in page and "nobody" in page
        assert studio.config.read_text() == broken  # nothing written
    finally:
        studio.config.write_text(before)
