"""install_card: what the bots call with a file an admin sent; validated before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anima.characters.install import install_card_reporting
from anima.characters.library import load_card
from anima.errors import ConfigError
from tests.characters.samples import chunk, png_with, v2_card


def test_a_png_card_is_installed_with_its_avatar(cards: Path) -> None:
    card = install_card_reporting(png_with({"chara": chunk(v2_card())}), "mira.png", cards).card
    assert (card.id, card.name) == ("mira", "Mira")
    assert sorted(p.name for p in cards.iterdir()) == ["mira.png", "mira.yaml"]
    assert load_card(cards / "mira.yaml").lorebook == card.lorebook


def test_a_yaml_card_is_installed_byte_for_byte(cards: Path) -> None:
    text = "# my card\nname: Tom\ndescription: d\ngreeting: hi\n"
    install_card_reporting(text.encode(), "Old Tom.yaml", cards)
    assert (cards / "old-tom.yaml").read_text() == text


def test_a_file_over_the_limit_is_refused_before_it_is_read(cards: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"big.json: 2,000 bytes is more than the 1,000 a card file may have here"
    ):
        install_card_reporting(b" " * 2000, "big.json", cards, max_bytes=1000)
    assert list(cards.iterdir()) == []


def test_a_broken_yaml_card_names_the_line_and_writes_nothing(cards: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        install_card_reporting(b"name: Tom\ndescription: d\ngreeting: 5\n", "tom.yaml", cards)
    assert caught.value.problems == [
        "characters/tom.yaml:3: greeting: expected text or a list of texts, got a number"
    ]
    assert list(cards.iterdir()) == []


def test_a_sent_file_name_never_becomes_a_path(cards: Path) -> None:
    card = install_card_reporting(json.dumps(v2_card()).encode(), "../../etc/passwd.json", cards).card
    assert card.id == "mira" and (cards / "mira.yaml").exists()


def test_an_installed_id_is_not_overwritten(cards: Path) -> None:
    install_card_reporting(json.dumps(v2_card()).encode(), "mira.json", cards)
    with pytest.raises(ConfigError, match="already exists"):
        install_card_reporting(json.dumps(v2_card()).encode(), "mira.json", cards)
