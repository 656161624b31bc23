"""No route of the studio works without login, and no POST without its session's CSRF token."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from anima.bots.studio.server import Studio
from tests.studio.harness import TOKEN, RunningStudio

FILLED = {"{id}": "mira", "{proposal}": "1", "{decision}": "approve"}
QUERIES = {"/characters/mira/export": "?format=json", "/people": "?user=x"}


def routes(method: str) -> list[str]:
    """Every path the studio serves for `method`, its parameters filled in: a new page is covered
    by these tests as soon as it is added."""
    studio = Studio(runtime=None, token="x")  # type: ignore[arg-type]  # the routes need no runtime
    paths = []
    for route in studio.app().router.routes():
        if route.method != method:
            continue
        path = route.resource.canonical if route.resource else ""
        for name, value in FILLED.items():
            path = path.replace(name, value)
        paths.append(path + QUERIES.get(path, ""))
    return [p for p in paths if p != "/login"]


PAGES = routes("GET")
POSTS = routes("POST")


def test_the_lists_hold_every_page() -> None:
    assert {"/characters/mira/form", "/characters/mira/online", "/health", "/static/studio.js"} <= set(PAGES)
    assert {"/characters/mira/form", "/characters/mira/form/validate", "/characters/mira/online"} <= set(
        POSTS
    )


async def _logged_in(url: str) -> tuple[aiohttp.ClientSession, str]:
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.post(f"{url}/login", data={"token": TOKEN}, allow_redirects=False) as response:
        assert response.status == 302
        cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    async with session.get(f"{url}/characters") as response:
        text = await response.text()
    csrf = text.split('name="csrf" content="', 1)[1].split('"', 1)[0]
    return session, csrf


async def test_every_route_is_refused_without_login(studio: RunningStudio) -> None:
    async with aiohttp.ClientSession() as session:
        for path in PAGES:
            async with session.get(studio.url + path, allow_redirects=False) as response:
                assert response.status in (302, 401), path
                if response.status == 302:
                    assert response.headers["Location"] == "/login", path
        for path in POSTS:
            async with session.post(studio.url + path, data={"yaml": "name: x"}, allow_redirects=False) as r:
                assert r.status == 401, path
        async with session.post(f"{studio.url}/login", data={"token": "wrong"}) as response:
            assert response.status == 403
        async with session.get(f"{studio.url}/characters", cookies={"anima_studio": "guessed"}) as r:
            assert r.url.path == "/login"


async def test_every_post_is_refused_without_its_csrf_token(studio: RunningStudio) -> None:
    session, csrf = await _logged_in(studio.url)
    async with session:
        for path in POSTS:
            async with session.post(studio.url + path, data={"yaml": "x"}, allow_redirects=False) as r:
                assert r.status == 403, path
            wrong = {"X-CSRF-Token": csrf[:-2] + "xx"}
            async with session.post(studio.url + path, data={}, headers=wrong, allow_redirects=False) as r:
                assert r.status == 403, path
        async with session.post(
            f"{studio.url}/characters/mira/validate", data={"yaml": "name: Mira\n", "csrf": csrf}
        ) as response:
            assert response.status == 200  # the same request with its token works
            problems = (await response.json())["problems"]
            assert any(p["field"] == "description" for p in problems)


async def test_a_card_id_never_leaves_characters_dir(studio: RunningStudio, tmp_path: Path) -> None:
    session, _ = await _logged_in(studio.url)
    async with session:
        for path in ("/characters/..%2F..%2Fetc%2Fpasswd", "/characters/.hidden", "/chat/..%2Fanima"):
            async with session.get(studio.url + path) as response:
                assert response.status == 404, path


async def test_the_printed_link_logs_in_once() -> None:
    from anima.bots.studio.server import open_studio

    runner, line = await open_studio(None, "127.0.0.1", 0, None)  # type: ignore[arg-type]  # login needs none
    link = line.split("open ", 1)[1].split(" ", 1)[0]
    assert link.startswith("http://127.0.0.1:") and "/login?token=" in link
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(link, allow_redirects=False) as first:
                assert first.status == 302 and "HttpOnly" in first.headers["Set-Cookie"]
            async with session.get(link, allow_redirects=False) as again:
                assert again.status == 403
    finally:
        await runner.cleanup()


async def test_guessing_tokens_pauses_logins() -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from anima.bots.studio.auth import MAX_LOGIN_FAILURES

    studio = Studio(runtime=None, token="the-right-one")  # type: ignore[arg-type]  # login needs none
    async with TestClient(TestServer(studio.app())) as client:
        for _ in range(MAX_LOGIN_FAILURES):
            assert (await client.post("/login", data={"token": "guess"})).status == 403
        paused = await client.post("/login", data={"token": "the-right-one"}, allow_redirects=False)
        assert paused.status == 403  # even the right token waits until the minute has passed
        studio.logins.failures.clear()
        assert (
            await client.post("/login", data={"token": "the-right-one"}, allow_redirects=False)
        ).status == 302
