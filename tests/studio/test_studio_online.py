"""Putting a character online from the studio: the config lines read the token from the
environment, adding them keeps config.yaml as written and passes `anima config check`, the bot
starts inside `anima run` (the Telegram fake is the platform) and Health lists it."""

from __future__ import annotations

import aiohttp
import pytest

from anima.config import load_settings
from anima.preflight import check_start
from tests.studio.harness import RunningStudio


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


async def test_a_bot_whose_token_is_not_set_yet_is_written_with_how_to_start_it(  # after the one above
    studio: RunningStudio, client: tuple[aiohttp.ClientSession, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    session, csrf = client
    monkeypatch.delenv("HOSTILE_DISCORD_TOKEN", raising=False)
    monkeypatch.delenv("MIRA_TELEGRAM_TOKEN", raising=False)
    bot = {"platform": "discord", "variable": "HOSTILE_DISCORD_TOKEN", "csrf": csrf}
    async with session.post(f"{studio.url}/characters/hostile/online", data=bot) as r:
        page = await r.text()  # the config's other bot reads a variable this process lacks
    assert r.status == 400 and "environment variable MIRA_TELEGRAM_TOKEN is not set" in page
    monkeypatch.setenv("MIRA_TELEGRAM_TOKEN", "set-where-anima-run-runs")
    async with session.post(f"{studio.url}/characters/hostile/online", data=bot) as r:
        page = await r.text()
    assert "Added bots.discord[0]" in page and "HOSTILE_DISCORD_TOKEN is not set" in page
    assert len(studio.fleet.served) == 1  # not started
