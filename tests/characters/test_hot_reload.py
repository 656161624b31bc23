"""Hot reload: a card edited, added or removed on disk is what the next message uses, without a restart."""

from __future__ import annotations

import logging
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from anima.app import Runtime
from anima.config import MemorySettings, Settings
from anima.core.messages import Incoming
from anima.errors import CharacterNotFound
from tests.conftest import REPO
from tests.fakes.llm import InstantLLM

LIN = Incoming(
    platform="test", chat_id="c", user_id="lin", display_name="Lin", text="hello", character_id="tom"
)
TOM = "name: Tom\ndescription: '{{char}} is a fisherman.'\ngreeting: Ahoy!\n"


@pytest.fixture
async def live(tmp_path: Path, cards: Path, instant_llm: InstantLLM) -> AsyncIterator[Runtime]:
    shutil.copy(REPO / "characters" / "aiko.yaml", cards)
    (cards / "tom.yaml").write_text(TOM)
    settings = Settings(
        characters_dir=cards,
        memory=MemorySettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/anima.db"),
    )
    runtime = await Runtime.start(settings)
    runtime.router.register("embedded", instant_llm)
    yield runtime
    await runtime.close()


def system_prompt(llm: InstantLLM) -> str:
    return llm.requests[-1].messages[0].content


async def test_an_edited_card_is_used_by_the_next_message(
    live: Runtime, cards: Path, instant_llm: InstantLLM
) -> None:
    await live.pipeline.handle(LIN)
    assert "Tom is a fisherman." in system_prompt(instant_llm)

    (cards / "tom.yaml").write_text(TOM.replace("a fisherman", "a lighthouse keeper"))
    assert live.watcher is not None
    await live.watcher.wait_until(lambda: "lighthouse" in live.characters.get("tom").description)

    await live.pipeline.handle(LIN)
    assert "Tom is a lighthouse keeper." in system_prompt(instant_llm)


async def test_an_edit_that_does_not_validate_keeps_the_previous_version_and_logs_where(
    live: Runtime, cards: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert live.watcher is not None
    with caplog.at_level(logging.ERROR, logger="anima.characters.library"):
        (cards / "tom.yaml").write_text(TOM + "greting: typo\n")
        await live.watcher.wait_until(lambda: "tom" in live.characters.problems)
    assert live.characters.get("tom").greeting == ["Ahoy!"]
    assert "characters/tom.yaml:4: greting: unknown field" in caplog.text
    assert "the previous version keeps running" in caplog.text

    (cards / "tom.yaml").write_text(TOM.replace("Ahoy!", "Ahoy there!"))
    await live.watcher.wait_until(lambda: "tom" not in live.characters.problems)
    assert live.characters.get("tom").greeting == ["Ahoy there!"]


async def test_a_new_card_file_can_be_talked_to_and_a_removed_one_is_gone(live: Runtime, cards: Path) -> None:
    assert live.watcher is not None
    (cards / "nell.yaml").write_text("name: Nell\ndescription: d\ngreeting: Hi!\n")
    await live.watcher.wait_until(lambda: "nell" in live.characters.cards)
    reply = await live.pipeline.handle(Incoming("test", "c", "lin", "Lin", "hi", character_id="nell"))
    assert reply is not None and reply.character_name == "Nell"

    (cards / "tom.yaml").unlink()
    await live.watcher.wait_until(lambda: "tom" not in live.characters.cards)
    with pytest.raises(CharacterNotFound):
        live.characters.get("tom")


async def test_editing_a_shared_lorebook_reloads_the_cards_that_use_it(
    live: Runtime, cards: Path, instant_llm: InstantLLM
) -> None:
    assert live.watcher is not None
    (cards / "lorebooks").mkdir()
    world = cards / "lorebooks" / "sea.yaml"
    world.write_text("entries:\n  - keys: [storm]\n    content: Storms come from the west.\n")
    (cards / "tom.yaml").write_text(TOM + "lorebooks: [lorebooks/sea.yaml]\n")
    await live.watcher.wait_until(lambda: bool(live.characters.get("tom").lorebooks))

    world.write_text("entries:\n  - keys: [storm]\n    content: Storms come from the east.\n")
    await live.watcher.wait_until(
        lambda: "east" in live.characters.get("tom").all_lorebooks[0].entries[0].content
    )
    await live.pipeline.handle(Incoming("test", "c", "lin", "Lin", "a storm is coming", character_id="tom"))
    assert "Storms come from the east." in system_prompt(instant_llm)


async def test_closing_the_runtime_stops_watching(tmp_path: Path, cards: Path) -> None:
    (cards / "tom.yaml").write_text(TOM)
    settings = Settings(
        characters_dir=cards,
        default_character="tom",
        memory=MemorySettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/a.db"),
    )
    runtime = await Runtime.start(settings)
    watcher = runtime.watcher
    assert watcher is not None and watcher._task is not None
    task = watcher._task
    await runtime.close()
    assert task.done() and runtime.watcher is not None and runtime.watcher._task is None
