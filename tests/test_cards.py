"""Character cards: the shipped ones validate; every broken card names file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from anima.characters.library import CharacterLibrary, load_card
from anima.errors import CharacterNotFound, ConfigError
from tests.conftest import REPO

GOOD = """\
name: Aiko
description: A warm friend.
greeting: Hi {{user}}!
"""


@pytest.fixture
def cards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # errors show paths relative to the working directory
    (tmp_path / "characters").mkdir()
    return tmp_path / "characters"


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_card(path)
    return caught.value.problems


def test_the_three_shipped_cards_are_valid() -> None:
    library = CharacterLibrary.load(REPO / "characters")
    assert library.problems == {}
    assert set(library.cards) >= {"aiko", "xingyao", "grimble"}


def test_a_card_gets_its_id_from_the_file_name(cards: Path) -> None:
    (cards / "aiko.yaml").write_text(GOOD)
    card = load_card(cards / "aiko.yaml")
    assert (card.id, card.name, card.greeting) == ("aiko", "Aiko", ["Hi {{user}}!"])


def test_a_greeting_that_is_a_number_is_reported_with_file_line_and_field(cards: Path) -> None:
    lines = (
        ["name: Aiko", "description: A warm friend."] + [f"# note {i}" for i in range(9)] + ["greeting: 42"]
    )
    (cards / "aiko.yaml").write_text("\n".join(lines) + "\n")
    assert problems_of(cards / "aiko.yaml") == [
        "characters/aiko.yaml:12: greeting: expected text or a list of texts, got a number"
    ]


def test_an_unknown_field_is_reported(cards: Path) -> None:
    (cards / "aiko.yaml").write_text(GOOD + "persona: typo for description\n")
    assert problems_of(cards / "aiko.yaml") == ["characters/aiko.yaml:4: persona: unknown field"]


def test_a_missing_field_points_at_the_card(cards: Path) -> None:
    (cards / "aiko.yaml").write_text("name: Aiko\ngreeting: hi\n")
    assert problems_of(cards / "aiko.yaml") == [
        "characters/aiko.yaml:1: description: required field is missing"
    ]


def test_every_problem_of_a_card_is_reported_at_once(cards: Path) -> None:
    (cards / "x.yaml").write_text(
        "name: X\ndescription: d\ngreeting: [hi, 3]\nrules: be nice\nllm:\n  temperature: hot\n"
    )
    assert problems_of(cards / "x.yaml") == [
        "characters/x.yaml:3: greeting: expected text or a list of texts, got a list containing a number",
        "characters/x.yaml:4: rules: expected a list, got text",
        "characters/x.yaml:6: llm.temperature: expected a number, got text",
    ]


def test_a_nested_example_dialogue_error_names_the_item(cards: Path) -> None:
    (cards / "x.yaml").write_text(GOOD + "example_dialogue:\n  - user: hi\n    char: hello\n  - user: bye\n")
    assert problems_of(cards / "x.yaml") == [
        "characters/x.yaml:7: example_dialogue[1].char: required field is missing"
    ]


def test_an_invalid_voice_engine_lists_the_choices(cards: Path) -> None:
    (cards / "x.yaml").write_text(GOOD + "voice:\n  engine: siri\n")
    assert problems_of(cards / "x.yaml") == [
        "characters/x.yaml:5: voice.engine: expected one of 'espeak', 'openai' or 'piper', got 'siri'"
    ]


def test_broken_yaml_is_reported_with_its_line(cards: Path) -> None:
    (cards / "x.yaml").write_text("name: X\ndescription: 'unclosed\ngreeting: hi\n")
    [problem] = problems_of(cards / "x.yaml")
    assert problem.startswith("characters/x.yaml:4: invalid YAML:")


def test_a_file_that_is_not_utf8_says_how_to_fix_it(cards: Path) -> None:
    (cards / "x.yaml").write_bytes(b"name: X\ndescription: caf\xe9\n")
    assert problems_of(cards / "x.yaml") == [
        "characters/x.yaml:2: not valid UTF-8 (byte 0xe9); save the file as UTF-8"
    ]


def test_an_empty_file_is_not_a_card(cards: Path) -> None:
    (cards / "x.yaml").write_text("")
    assert problems_of(cards / "x.yaml") == [
        "characters/x.yaml:1: a character card must be a mapping of fields (name:, description:, …)"
    ]


def test_an_unknown_character_lists_the_available_ones(cards: Path) -> None:
    (cards / "aiko.yaml").write_text(GOOD)
    library = CharacterLibrary.load(cards)
    with pytest.raises(CharacterNotFound, match=r"no character named 'bob'; available: aiko"):
        library.get("bob")


def test_a_character_can_be_found_by_its_display_name(cards: Path) -> None:
    (cards / "aiko.yaml").write_text(GOOD)
    assert CharacterLibrary.load(cards).get("AIKO").id == "aiko"


def test_one_broken_card_fails_start_up_with_its_problem(cards: Path) -> None:
    (cards / "aiko.yaml").write_text(GOOD)
    (cards / "bad.yaml").write_text("name: 5\n")
    library = CharacterLibrary.load(cards)
    assert set(library.cards) == {"aiko"}
    with pytest.raises(ConfigError) as caught:
        library.require_valid()
    assert caught.value.problems[0] == "characters/bad.yaml:1: name: expected text, got a number"
