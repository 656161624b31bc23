"""The card form over HTTP: a save writes only what changed (the template's comments stay), a wrong
value is named at its field and writes nothing, hostile text is escaped, and an avatar upload is
checked and capped."""

from __future__ import annotations

import io
import struct
import zlib

import aiohttp
from PIL import Image

from anima.bots.studio.form import MAX_AVATAR_BYTES
from tests.studio.harness import RunningStudio


def filled(csrf: str, **changes: str | list[str]) -> aiohttp.FormData:
    """The form as a browser sends the template card's, with `changes` (CRLF line ends, as browsers do)."""
    fields: dict[str, str | list[str]] = {
        "name": "Tova",
        "description": "{{char}} is …",
        "personality": "",
        "scenario": "",
        "backstory": "",
        "greeting": ["Hello, {{user}}!", ""],
        "rule": ["Speak as {{char}}, in the first person.", ""],
        "example_user": ["How are you?", ""],
        "example_char": ["Better now that you are here.", ""],
        "lore_shown": "1",
        "lore_index": ["0", ""],
        "lore_keys": ["example-keyword", ""],
        "lore_content": ["What {{char}} knows when someone says the keyword.", ""],
        "voice_engine": "espeak",
        "voice_name": "",
        "voice_speed": "1.0",
        "rating": "general",
    }
    fields.update(changes)
    form = aiohttp.FormData({"csrf": csrf})
    for name, value in fields.items():
        for one in [value] if isinstance(value, str) else value:
            form.add_field(name, one.replace("\n", "\r\n"))
    return form


async def new_card(session: aiohttp.ClientSession, url: str, csrf: str, name: str) -> None:
    async with session.post(f"{url}/characters/new", data={"name": name, "csrf": csrf}) as r:
        assert r.status == 200, await r.text()


async def test_a_form_save_writes_what_changed_and_keeps_the_rest_as_written(
    studio: RunningStudio, client: tuple[aiohttp.ClientSession, str]
) -> None:
    session, csrf = client
    await new_card(session, studio.url, csrf, "Tova")
    form = filled(
        csrf,
        description="{{char}} is a smith in Vell.\nShe sings while she works.",
        backstory="Born in the north.",
        greeting=["Hello, {{user}}!", "Back again?"],
        lore_index=["0", ""],
        lore_keys=["forge, anvil", "gull"],
        lore_content=["The forge never goes cold.", "Gulls steal her bread."],
        rating="teen",
    )
    async with session.post(f"{studio.url}/characters/tova/form", data=form) as r:
        assert r.url.path == "/characters/tova/form" and "saved" in await r.text()
    text = (studio.runtime.characters.directory / "tova.yaml").read_text()
    assert 'name: "Tova"                        # V2 name' in text  # untouched, comment and all
    assert "position: before_char            # before_char | after_char" in text  # the entry's other fields
    assert "description: |-" in text and "  She sings while she works.\n" in text
    card = studio.runtime.characters.get("tova")  # reloaded: the bots use it on their next message
    assert card.description == "{{char}} is a smith in Vell.\nShe sings while she works."
    assert card.greeting == ["Hello, {{user}}!", "Back again?"]
    assert [e.keys for e in card.lorebook.entries] == [["forge", "anvil"], ["gull"]]  # type: ignore[union-attr]
    assert card.backstory == "Born in the north." and card.safety.rating == "teen"


async def test_a_wrong_value_is_named_at_its_field_and_nothing_is_written(
    studio: RunningStudio, client: tuple[aiohttp.ClientSession, str]
) -> None:
    session, csrf = client
    await new_card(session, studio.url, csrf, "Ulla")
    path = studio.runtime.characters.directory / "ulla.yaml"
    before = path.read_text()
    wrong = filled(csrf, name="Ulla", greeting=["", ""], voice_speed="fast")
    async with session.post(f"{studio.url}/characters/ulla/form/validate", data=wrong) as r:
        result = await r.json()
    assert not result["valid"]
    assert "ulla.yaml:" in result["fields"]["voice"] and "voice.speed" in result["fields"]["voice"]
    assert "greeting" in result["fields"]["greeting"]
    wrong = filled(csrf, name="Ulla", greeting=["", ""], voice_speed="fast")
    async with session.post(f"{studio.url}/characters/ulla/form", data=wrong) as r:
        assert r.status == 400
        page = await r.text()
    assert 'data-for="voice"><span class=msg>' in page and 'value="fast"' in page  # what they typed stays
    assert path.read_text() == before


async def test_hostile_text_in_the_form_is_escaped(
    studio: RunningStudio, client: tuple[aiohttp.ClientSession, str]
) -> None:
    session, _ = client
    async with session.get(f"{studio.url}/characters/hostile/form") as r:
        page = await r.text()
    assert "<script>window.__xss" not in page and "&lt;script&gt;window.__xss = 2&lt;/script&gt;" in page
    assert "<img src=x" not in page and "<svg onload" not in page


def png_header(width: int, height: int) -> bytes:
    """A PNG that says it is `width` x `height` (a decompression bomb's header), with no pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = chunk(b"IDAT", zlib.compress(b""))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + pixels + chunk(b"IEND", b"")


async def test_an_avatar_bomb_is_refused_by_its_size_in_one_line(
    studio: RunningStudio, client: tuple[aiohttp.ClientSession, str]
) -> None:
    session, csrf = client
    await new_card(session, studio.url, csrf, "Bomb")
    for width, said in ((7_000, "7,000×7,000 pixels: make it smaller"), (60_000, "too many pixels")):
        form = filled(csrf, name="Bomb")
        form.add_field("avatar", png_header(width, width), filename="me.png", content_type="image/png")
        async with session.post(f"{studio.url}/characters/bomb/form", data=form) as r:
            assert r.status == 400 and said in await r.text()
    assert not (studio.runtime.characters.directory / "bomb.png").exists()


def picture(fmt: str = "PNG", side: int = 8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), (200, 40, 40)).save(out, fmt)
    return out.getvalue()


async def test_an_avatar_is_checked_capped_and_shown(
    studio: RunningStudio, client: tuple[aiohttp.ClientSession, str]
) -> None:
    session, csrf = client
    await new_card(session, studio.url, csrf, "Vera")
    url = f"{studio.url}/characters/vera/form"
    for data, status in (
        (b"<svg onload=alert(1)>", 400),
        (b"\x89PNG\r\n\x1a\n" + b"broken" * 10, 400),
        (b"\x89PNG\r\n\x1a\n" + b"x" * MAX_AVATAR_BYTES, 413),
    ):
        form = filled(csrf, name="Vera")
        form.add_field("avatar", data, filename="me.png", content_type="image/png")
        async with session.post(url, data=form) as r:
            assert r.status == status
    assert not (studio.runtime.characters.directory / "vera.png").exists()
    form = filled(csrf, name="Vera")
    form.add_field("avatar", picture("JPEG"), filename="me.jpg", content_type="image/jpeg")
    async with session.post(url, data=form) as r:
        assert r.status == 200 and 'src="/characters/vera/avatar"' in await r.text()
    assert studio.runtime.characters.get("vera").avatar == "vera.jpg"
    async with session.get(f"{studio.url}/characters/vera/avatar") as r:
        assert r.content_type == "image/jpeg" and (await r.read()) == picture("JPEG")
