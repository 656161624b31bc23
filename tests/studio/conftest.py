"""A running studio per test module, and a logged-in HTTP client with its CSRF token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from tests.studio.harness import TOKEN, RunningStudio


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStudio]:
    running = RunningStudio(tmp_path_factory.mktemp("studio")).start()
    yield running
    running.stop()


@pytest.fixture
async def client(studio: RunningStudio) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.post(f"{studio.url}/login", data={"token": TOKEN}) as response:
        text = await response.text()
    yield session, text.split('name="csrf" content="', 1)[1].split('"', 1)[0]
    await session.close()
