"""Loading cards with shared lorebooks, duplicate ids and oversized fields, each with file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anima.characters.exporter import export_card
from anima.characters.importer import read_card
from anima.characters.library import CharacterLibrary, load_card
from anima.errors import ConfigError
from tests.characters.samples import v2_card
from tests.conftest import REPO

CARD = "name: Tom\ndescription: d\ngreeting: hi\n"


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_card(path)
    return caught.value.problems


def test_a_card_uses_a_shared_yaml_lorebook(cards: Path) -> None:
    (cards / "lorebooks").mkdir()
    (cards / "lorebooks" / "sea.yaml").write_text("entries:\n  - keys: [storm]\n    content: Storms.\n")
    (cards / "tom.yaml").write_text(CARD + "lorebooks: [lorebooks/sea.yaml]\n")
    [book] = load_card(cards / "tom.yaml").all_lorebooks
    assert book.entries[0].content == "Storms."


def test_a_card_uses_a_shared_v3_json_lorebook(cards: Path) -> None:
    book = {"spec": "lorebook_v3", "data": v2_card()["data"]["character_book"]}
    (cards / "world.json").write_text(json.dumps(book))
    (cards / "tom.yaml").write_text(CARD + "lorebooks: [world.json]\n")
    [loaded] = load_card(cards / "tom.yaml").all_lorebooks
    assert loaded.name == "Salt Coast" and len(loaded.entries) == 3


def test_a_missing_shared_lorebook_names_the_card_line(cards: Path) -> None:
    (cards / "tom.yaml").write_text(CARD + "lorebooks:\n  - lorebooks/gone.yaml\n")
    assert problems_of(cards / "tom.yaml") == [
        "characters/tom.yaml:5: lorebooks[0]: cannot use 'lorebooks/gone.yaml': "
        "characters/lorebooks/gone.yaml: file not found"
    ]


def test_an_error_inside_a_shared_lorebook_names_its_own_file_and_line(cards: Path) -> None:
    (cards / "lorebooks").mkdir()
    (cards / "lorebooks" / "sea.yaml").write_text("entries:\n  - keys: storm\n    content: Storms.\n")
    (cards / "tom.yaml").write_text(CARD + "lorebooks: [lorebooks/sea.yaml]\n")
    assert problems_of(cards / "tom.yaml") == [
        "characters/tom.yaml:4: lorebooks[0]: cannot use 'lorebooks/sea.yaml': "
        "characters/lorebooks/sea.yaml:2: entries[0].keys: expected a list, got text"
    ]


def test_duplicate_entry_ids_in_a_card_lorebook_are_reported(cards: Path) -> None:
    (cards / "tom.yaml").write_text(
        CARD + "lorebook:\n  entries:\n    - {id: 1, content: a}\n    - {id: 1, content: b}\n"
    )
    assert problems_of(cards / "tom.yaml") == [
        "characters/tom.yaml:4: lorebook: two entries have id 1; every entry id must be unique"
    ]


def test_two_files_with_the_same_id_are_both_refused(cards: Path) -> None:
    (cards / "tom.yaml").write_text(CARD)
    (cards / "tom.yml").write_text(CARD)
    library = CharacterLibrary.load(cards)
    assert "tom" not in library.cards
    assert library.problems["tom"] == [
        "characters/tom.yml: duplicate id 'tom': characters/tom.yaml has the same file name; "
        "rename one of them"
    ]


def test_an_oversized_field_is_reported_with_its_line(cards: Path) -> None:
    (cards / "tom.yaml").write_text(CARD + f"personality: {'x' * 200_001}\n")
    assert problems_of(cards / "tom.yaml") == [
        "characters/tom.yaml:4: personality: 200,001 characters, more than the 200,000 a field may hold"
    ]


def test_the_shipped_cards_export_and_import_back_the_same(cards: Path) -> None:
    for path in sorted((REPO / "characters").glob("*.yaml")):
        card = load_card(path)
        again = read_card(export_card(card, "png", cards), f"{card.id}.png", cards, card.id).card
        assert again.model_dump(exclude={"avatar"}) == card.model_dump(exclude={"avatar"})
