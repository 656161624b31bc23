"""`anima soul …` on a real database file: read, approve, reject and roll back a character's growth."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from anima.characters.exporter import export_card
from anima.characters.importer import read_card
from anima.characters.library import load_card
from anima.cli import main
from anima.core.messages import ConversationKey
from anima.memory.store import MemoryStore
from anima.soul import SoulStore, Source
from anima.soul.changes import Change
from tests.soul.conftest import GROWTH, growing_card


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A growing Aiko, a conversation with Lin, and two pending proposals citing it (#1, #2)."""
    url = f"sqlite:///{tmp_path}/anima.db"
    growing_card(tmp_path / "characters", GROWTH)

    async def fill() -> None:
        store = await MemoryStore.open(url)
        state = await store.conversation(ConversationKey("telegram", "42", "lin", "aiko"), "Lin")
        said = await store.add(state, "user", "You sang at the autumn festival!")
        soul = SoulStore(store)
        source = Source("telegram", "lin", "Lin", state.id)
        await soul.propose(
            "aiko", Change("backstory", "sang at the autumn festival", (said.id,), 0.9), source
        )
        await soul.propose("aiko", Change("habit", "hums while the kettle boils", (said.id,), 0.6), source)
        await store.close()

    asyncio.run(fill())
    path = tmp_path / "config.yaml"
    path.write_text(f"characters_dir: {tmp_path / 'characters'}\nmemory:\n  database_url: {url}\n")
    return path


def anima(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["--config", str(config), "soul", *args]) == 0
    return capsys.readouterr().out


def test_diff_shows_pending_changes_with_the_messages_behind_them(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = anima(config, capsys, "diff", "aiko")
    assert "#1 + backstory: sang at the autumn festival" in out
    assert "user: You sang at the autumn festival!" in out


def test_approve_applies_a_change_that_show_then_lists(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "soul version 1" in anima(config, capsys, "approve", "1")
    shown = anima(config, capsys, "show", "aiko")
    assert "- sang at the autumn festival" in shown
    assert "hums" not in shown


def test_reject_leaves_the_soul_as_it_was(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    anima(config, capsys, "reject", "2", "--reason", "not her")
    assert "Nothing learned yet" in anima(config, capsys, "show", "aiko")
    assert "#2" not in anima(config, capsys, "diff", "aiko")


def test_history_and_rollback_restore_an_earlier_version(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anima(config, capsys, "approve", "1", "2")
    anima(config, capsys, "rollback", "aiko", "1")
    history = anima(config, capsys, "history", "aiko")
    shown = anima(config, capsys, "show", "aiko")

    assert "v3" in history and "rolled back to version 1" in history
    assert "sang at the autumn festival" in shown and "hums" not in shown


def test_export_merges_the_learned_backstory_into_a_card(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anima(config, capsys, "approve", "1")
    card = yaml.safe_load(anima(config, capsys, "export", "aiko"))
    assert card["backstory"].endswith("- sang at the autumn festival")
    assert card["name"] == "Aiko"


def test_an_exported_card_loads_as_a_card_with_its_learned_habits(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    anima(config, capsys, "approve", "1", "2")
    out = tmp_path / "shared" / "aiko-grown.yaml"
    out.parent.mkdir()
    anima(config, capsys, "export", "aiko", "--out", str(out))
    card = load_card(out)
    assert "- hums while the kettle boils" in card.personality
    assert card.growth.mode == "propose"


def test_approving_an_unknown_proposal_says_how_to_find_them(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "soul", "approve", "99"]) == 2
    assert "anima soul diff" in capsys.readouterr().err


def test_a_cards_growth_settings_survive_a_v2_export_and_import(tmp_path: Path) -> None:
    card = load_card(growing_card(tmp_path / "characters", {"mode": "auto", "protected": ["backstory"]}))
    exported = export_card(card, "v2", tmp_path)
    back = read_card(exported, "aiko.json", tmp_path / "characters", "aiko").card
    assert back.growth == card.growth
