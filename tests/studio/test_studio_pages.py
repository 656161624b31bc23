"""The studio's forms over HTTP: new from the template, import by upload (capped), export, a save that
does not validate, and forgetting a person only when confirmed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from anima.characters.importer import MAX_CARD_BYTES
from tests.studio.harness import TOKEN, RunningStudio


async def test_a_new_card_comes_from_the_template_and_validates(
    studio: RunningStudio, client: tuple[aiohttp.ClientSession, str]
) -> None:
    session, csrf = client
    async with session.post(f"{studio.url}/characters/new", data={"name": "Tova", "csrf": csrf}) as r:
        assert r.url.path == "/characters/tova/form"  # the form, for a creator who never saw YAML
        assert 'name="name" value="Tova"' in await r.text()
    async with session.get(f"{studio.url}/characters/tova") as r:
        assert "V2 description" in await r.text()  # the commented template
    assert studio.runtime.characters.get("tova").name == "Tova"
    async with session.post(f"{studio.url}/characters/new", data={"name": "Tova", "csrf": csrf}) as r:
        assert r.status == 409  # never overwrites


async def test_a_save_that_does_not_validate_changes_nothing(
    studio: RunningStudio, client: tuple[aiohttp.ClientSession, str]
) -> None:
    session, csrf = client
    path = studio.runtime.characters.directory / "mira.yaml"
    before = path.read_text()
    async with session.post(
        f"{studio.url}/characters/mira", data={"yaml": "name: Mira\n", "csrf": csrf}
    ) as r:
        assert r.status == 400
        assert "mira.yaml:1: description: required field is missing" in await r.text()
    assert path.read_text() == before
    big = "name: x\ndescription: " + "a" * (MAX_CARD_BYTES + 10)
    async with session.post(f"{studio.url}/characters/mira", data={"yaml": big, "csrf": csrf}) as r:
        assert r.status == 413
    assert path.read_text() == before


async def test_import_by_upload_is_capped_and_export_gives_it_back(
    studio: RunningStudio, client: tuple[aiohttp.ClientSession, str]
) -> None:
    session, csrf = client
    card = {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {"name": "Oren", "description": "A sailor."},
    }
    form = aiohttp.FormData({"csrf": csrf})
    form.add_field("card", json.dumps(card).encode(), filename="oren.json", content_type="application/json")
    async with session.post(f"{studio.url}/characters/import", data=form) as r:
        assert r.url.path == "/characters/oren", await r.text()
    async with session.get(f"{studio.url}/characters/oren/export?format=json") as r:
        assert json.loads(await r.read())["data"]["description"] == "A sailor."
    form = aiohttp.FormData({"csrf": csrf})
    form.add_field("card", b"x" * (MAX_CARD_BYTES + 70 * 1024), filename="huge.json")
    async with session.post(f"{studio.url}/characters/import", data=form) as r:
        assert r.status == 413
    form = aiohttp.FormData({"csrf": csrf})
    form.add_field("card", b"{not json", filename="bad.json")
    async with session.post(f"{studio.url}/characters/import", data=form) as r:
        assert r.status == 400 and "bad.json" in await r.text()


async def test_wiping_the_test_person_forgets_what_they_said(
    studio: RunningStudio, client: tuple[aiohttp.ClientSession, str]
) -> None:
    session, csrf = client
    async with session.post(
        f"{studio.url}/chat/mira", data={"message": "I am called Ilse", "csrf": csrf}
    ) as r:
        assert '"done": true' in await r.text()
    dry_run = {"message": "hi", "csrf": csrf}
    async with session.post(f"{studio.url}/characters/mira/dry-run", data=dry_run) as r:
        assert "I am called Ilse" in await r.text()  # in the prompt's history
    async with session.post(f"{studio.url}/chat/mira/wipe", data={"csrf": csrf}) as r:
        assert r.url.path == "/chat/mira"
    async with session.post(
        f"{studio.url}/characters/mira/dry-run", data={"message": "hi", "csrf": csrf}
    ) as r:
        assert "I am called Ilse" not in await r.text()  # no longer in the prompt's history


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[RunningStudio]:
    """A studio of its own: after a wipe, the same process does not store that person's next turn
    (a known problem of the memory cache, reported to the lead), so forgetting comes last in its own."""
    running = RunningStudio(tmp_path).start()
    yield running
    running.stop()


async def test_a_person_is_forgotten_only_when_confirmed(fresh: RunningStudio) -> None:
    studio = fresh
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.post(f"{studio.url}/login", data={"token": TOKEN}) as response:
        csrf = (await response.text()).split('name="csrf" content="', 1)[1].split('"', 1)[0]
    async with session.post(
        f"{studio.url}/chat/mira", data={"message": "my boat is the Gull", "csrf": csrf}
    ) as r:
        lines = [json.loads(line) for line in (await r.text()).splitlines()]
    assert lines[-1]["done"] and any("reply" in line for line in lines)
    who = {"platform": "studio", "user": "studio-tester", "csrf": csrf}
    async with session.post(f"{studio.url}/people/export", data=who) as r:
        assert "my boat is the Gull" in await r.text()
    async with session.post(f"{studio.url}/people/forget", data=who) as r:
        assert r.status == 400  # not confirmed
    async with session.post(f"{studio.url}/people/forget", data={**who, "confirm": "yes"}) as r:
        assert "forgot studio-tester" in await r.text()
    async with session.post(f"{studio.url}/people/export", data=who) as r:
        assert r.status == 404
    await session.close()


async def test_the_safety_page_filters_by_time(
    studio: RunningStudio, client: tuple[aiohttp.ClientSession, str]
) -> None:
    from datetime import UTC, datetime, timedelta

    from anima.memory.models import SafetyEvent, table_of

    session, _ = client
    audit = studio.runtime.pipeline.safety.audit
    assert audit is not None
    old = datetime.now(UTC) - timedelta(days=3)
    row = {"platform": "telegram", "user_id": "u", "character_id": "mira", "stage": "input"}
    rows = [
        {**row, "chat_id": "chat-then", "check": "harm", "action": "replace", "created_at": old},
        {**row, "chat_id": "chat-now", "check": "pii", "action": "redact", "created_at": datetime.now(UTC)},
    ]
    studio.call(audit.ensure_table())
    studio.call(audit.database.transaction(lambda conn: conn.execute(table_of(SafetyEvent).insert(), rows)))
    async with session.get(f"{studio.url}/safety") as r:  # the last 24 hours
        page = await r.text()
    assert "chat-now" in page and "chat-then" not in page
    then = {
        "from": (old - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "to": (old + timedelta(hours=1)).isoformat(),
    }
    async with session.get(f"{studio.url}/safety", params=then) as r:
        page = await r.text()
    assert "chat-then" in page and "chat-now" not in page
    assert "<td>harm</td><td>replace</td><td></td><td>1</td>" in page  # the counts over the same time
    async with session.get(f"{studio.url}/safety", params={"from": "yesterday"}) as r:
        assert "from and to are times" in await r.text()
