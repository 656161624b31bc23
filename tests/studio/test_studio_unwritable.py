"""A studio whose files cannot be written (a read-only characters folder, a config.yaml the
process may not replace) says so in one line and leaves every file as it was."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest

from tests.studio.harness import RunningStudio


@contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """`path` made unwritable (mode bits, or the immutable flag where the tests run as root);
    skips where this machine allows neither."""
    mode = path.stat().st_mode
    path.chmod(0o555 if path.is_dir() else 0o444)
    flagged = subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0
    try:
        probe = path / ".probe" if path.is_dir() else path
        try:
            with probe.open("a"):
                pass
        except OSError:
            yield
        else:
            pytest.skip("this machine lets the tests write anywhere")
        finally:
            if path.is_dir():
                (path / ".probe").unlink(missing_ok=True)
    finally:
        if flagged:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(mode)


async def test_a_card_saved_into_a_read_only_folder_is_refused_in_one_line_and_kept(
    studio: RunningStudio, client: tuple[aiohttp.ClientSession, str]
) -> None:
    session, csrf = client
    card = studio.root / "characters" / "mira.yaml"
    before = card.read_text()
    edited = before.replace("Mira", "Mara")
    with unwritable(card.parent):
        async with session.post(f"{studio.url}/characters/mira", data={"yaml": edited, "csrf": csrf}) as r:
            said = await r.text()
    assert r.status == 500 and said.startswith("Nothing was changed: the studio could not use ")
    assert "\n" not in said and "Traceback" not in said
    assert card.read_text() == before


async def test_a_bot_added_to_a_config_yaml_that_cannot_be_replaced_is_refused_in_one_line(
    studio: RunningStudio, client: tuple[aiohttp.ClientSession, str]
) -> None:
    session, csrf = client
    before = studio.config.read_text()
    bot = {"platform": "telegram", "variable": "READ_ONLY_TOKEN", "csrf": csrf}
    with unwritable(studio.config):
        async with session.post(f"{studio.url}/characters/mira/online", data=bot) as r:
            said = await r.text()
    assert r.status == 500 and said.startswith("Nothing was changed"), said
    assert studio.config.read_text() == before
