"""Import and export of Character Card V1/V2/V3, as JSON and PNG: lossless round trips, clear refusals."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anima.characters import png
from anima.characters.card import CharacterCard
from anima.characters.exporter import export_card
from anima.characters.importer import dump_card_yaml, read_card, write_card
from anima.characters.library import load_card
from anima.errors import ConfigError
from tests.characters.samples import chunk, png_with, v2_card, v3_card
from tests.conftest import REPO


def imported(cards: Path, obj: Any, filename: str = "mira.json") -> CharacterCard:
    """Import a card object as a user would, then read the YAML back from disk."""
    path = write_card(read_card(json.dumps(obj).encode(), filename, cards), cards)
    return load_card(path)


def card_chunks(data: bytes) -> dict[str, Any]:
    texts = png.card_texts(png.read_chunks(data))
    return {key: json.loads(base64.b64decode(text)) for key, text in texts.items()}


def image_data(data: bytes) -> list[png.Chunk]:
    return [c for c in png.read_chunks(data) if c.kind in (b"IHDR", b"IDAT")]


def problems(data: bytes, filename: str, cards: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        read_card(data, filename, cards)
    return caught.value.problems


def test_a_v2_card_goes_through_yaml_and_back_unchanged(cards: Path) -> None:
    card = imported(cards, v2_card())
    assert json.loads(export_card(card, "v2", cards)) == v2_card()


def test_a_v3_card_goes_through_yaml_and_back_unchanged(cards: Path) -> None:
    card = imported(cards, v3_card())
    assert json.loads(export_card(card, "v3", cards)) == v3_card()


def test_an_imported_card_reads_like_a_hand_written_one(cards: Path) -> None:
    card = imported(cards, v3_card())
    assert card.id == "mira"
    assert card.greeting == [
        "*looks up from a map* Oh, hello {{user}}.",
        "Back again, {{user}}?",
        "*waves* Over here!",
    ]
    assert [(ex.user, ex.char) for ex in card.example_dialogue] == [
        ("Where is this?", "The Salt Coast.\nLong way south."),
        ("Can I help?", "Hold this corner."),
    ]
    assert (card.nickname, card.group_greetings, card.creation_date) == (
        "Mi",
        ["Hello, everyone."],
        1700000000,
    )
    assert card.lorebook is not None
    lighthouse = card.lorebook.entries[1]
    assert (lighthouse.position, lighthouse.depth, lighthouse.role) == ("at_depth", 2, "assistant")
    assert card.lorebook.entries[0].selective_logic == "and_all"


def test_html_and_script_in_fields_are_kept_as_plain_text(cards: Path) -> None:
    card = imported(cards, v2_card())
    assert card.description == "{{char}} is a cartographer. <b>Bold</b> <script>alert('x')</script>"


def test_example_text_that_does_not_parse_is_kept_as_written(cards: Path) -> None:
    source = v2_card()
    source["data"]["mes_example"] = "<START>\n<USER>: hi\n<BOT>: *nods*\n\n"
    card = imported(cards, source)
    assert (card.example_dialogue, card.mes_example) == ([], "<START>\n<USER>: hi\n<BOT>: *nods*\n\n")
    assert json.loads(export_card(card, "v2", cards)) == source


def test_a_png_card_is_imported_with_its_avatar_next_to_the_yaml(cards: Path) -> None:
    original = png_with({"chara": chunk(v2_card())})
    path = write_card(read_card(original, "Mira.png", cards), cards)
    card = load_card(path)
    assert (path.name, card.avatar) == ("mira.yaml", "mira.png")
    avatar = (cards / "mira.png").read_bytes()
    assert image_data(avatar) == image_data(original)
    assert png.card_texts(png.read_chunks(avatar)) == {}  # the card is in the YAML, not in the image


def test_a_png_export_carries_v2_and_v3_and_keeps_the_image(cards: Path) -> None:
    original = png_with({"chara": chunk(v2_card())})
    card = load_card(write_card(read_card(original, "mira.png", cards), cards))
    exported = export_card(card, "png", cards)
    inside = card_chunks(exported)
    assert inside["chara"] == v2_card()
    assert inside["ccv3"]["spec"] == "chara_card_v3" and inside["ccv3"]["data"]["name"] == "Mira"
    assert image_data(exported) == image_data(original)


def test_a_v3_png_round_trips_through_yaml(cards: Path) -> None:
    card = load_card(write_card(read_card(png_with({"ccv3": chunk(v3_card())}), "m.png", cards), cards))
    assert card_chunks(export_card(card, "png", cards))["ccv3"] == v3_card()


def test_ccv3_is_preferred_when_a_png_has_both_chunks(cards: Path) -> None:
    old = v2_card()
    old["data"]["name"] = "Old Mira"
    result = read_card(png_with({"chara": chunk(old), "ccv3": chunk(v3_card())}), "m.png", cards)
    assert (result.spec, result.card.name) == ("v3", "Mira")


def test_a_broken_ccv3_chunk_falls_back_to_chara_with_a_warning(cards: Path) -> None:
    result = read_card(png_with({"chara": chunk(v2_card()), "ccv3": "not base64!"}), "m.png", cards)
    assert (result.spec, result.card.name) == ("v2", "Mira")
    assert result.warnings[0] == (
        "m.png (ccv3 chunk): not base64; a card chunk holds base64 of the card's JSON; "
        "used the 'chara' (V2) chunk instead"
    )


def test_a_yaml_card_goes_to_v2_and_back_with_its_anima_fields(cards: Path) -> None:
    aiko = load_card(REPO / "characters" / "aiko.yaml")
    exported = json.loads(export_card(aiko, "v2", cards))
    assert exported["data"]["extensions"]["anima"]["rules"] == aiko.rules
    again = imported(cards, exported, "aiko.json")
    assert again.model_dump() == aiko.model_dump()


def test_a_v1_card_is_imported_with_a_warning(cards: Path) -> None:
    v1 = {
        "name": "Old",
        "description": "d",
        "personality": "",
        "scenario": "",
        "first_mes": "Hi <USER>",
        "mes_example": "",
    }
    result = read_card(json.dumps(v1).encode(), "old.json", cards)
    assert (result.spec, result.card.greeting) == ("v1", ["Hi <USER>"])
    assert result.warnings == ["old.json: a V1 card (no `spec`): imported; export writes it as V2"]


def test_a_newer_spec_version_is_imported_with_a_warning(cards: Path) -> None:
    newer = v2_card() | {"spec_version": "2.5"}
    result = read_card(json.dumps(newer).encode(), "m.json", cards)
    assert "spec_version 2.5 is newer than 2.0" in result.warnings[0]


def test_a_png_without_a_card_chunk_is_refused(cards: Path) -> None:
    assert problems(png_with({}), "cat.png", cards) == [
        "cat.png: no character card inside: the PNG has no 'ccv3' or 'chara' text chunk"
    ]


def test_a_truncated_png_is_refused_with_where_it_ends(cards: Path) -> None:
    whole = png_with({"chara": chunk(v2_card())})
    [problem] = problems(whole[:300], "cut.png", cards)
    assert problem.startswith("cut.png: truncated PNG: the 'tEXt' chunk at byte ")
    assert problem.endswith("but the file ends at byte 300")


def test_base64_that_is_not_json_is_refused(cards: Path) -> None:
    bad = base64.b64encode(b"<html>not json</html>").decode()
    [problem] = problems(png_with({"chara": bad}), "m.png", cards)
    assert problem.startswith("m.png (chara chunk): the base64 does not decode to JSON:")


def test_json_with_a_syntax_error_names_its_line(cards: Path) -> None:
    assert problems(b'{\n  "spec": "chara_card_v2",\n  "data": {,}\n}', "m.json", cards) == [
        "m.json:3: not valid JSON: Expecting property name enclosed in double quotes (column 12)"
    ]


def test_a_wrong_type_names_the_json_path(cards: Path) -> None:
    source = v2_card()
    source["data"]["alternate_greetings"] = ["hi", 3]
    source["data"]["character_book"]["entries"][0]["content"] = None
    source["data"]["character_book"]["entries"][1]["keys"] = "lighthouse"
    assert problems(json.dumps(source).encode(), "m.json", cards) == [
        "m.json: data.alternate_greetings[1]: expected text, got a number",
        "m.json: data.character_book.entries[1].keys: expected a list of texts, got text",
    ]


def test_a_huge_field_is_refused_with_its_size(cards: Path) -> None:
    source = v2_card()
    source["data"]["description"] = "x" * 300_000
    assert problems(json.dumps(source).encode(), "m.json", cards) == [
        "m.json: data.description: 300,000 characters, more than the 200,000 a field may hold"
    ]


def test_an_unknown_spec_is_refused(cards: Path) -> None:
    assert problems(json.dumps({"spec": "chara_card_v9", "data": {}}).encode(), "m.json", cards) == [
        "m.json: spec: expected chara_card_v2 or chara_card_v3, got 'chara_card_v9'"
    ]


def test_a_lorebook_file_given_as_a_card_says_what_it_is(cards: Path) -> None:
    [problem] = problems(
        json.dumps({"spec": "lorebook_v3", "data": {"entries": []}}).encode(), "w.json", cards
    )
    assert problem.startswith("w.json: this is a lorebook, not a character card")


def test_duplicate_lorebook_entry_ids_are_refused(cards: Path) -> None:
    source = v2_card()
    source["data"]["character_book"]["entries"][1]["id"] = 1
    assert problems(json.dumps(source).encode(), "m.json", cards) == [
        "m.json: data.character_book: two entries have id 1; every entry id must be unique"
    ]


def test_an_existing_id_is_not_overwritten_and_nothing_is_written(cards: Path) -> None:
    (cards / "mira.yaml").write_text("name: Mine\ndescription: d\ngreeting: hi\n")
    result = read_card(png_with({"chara": chunk(v2_card())}), "mira.png", cards)
    with pytest.raises(ConfigError, match=r"characters/mira\.yaml already exists: a card with id 'mira'"):
        write_card(result, cards)
    assert sorted(p.name for p in cards.iterdir()) == ["mira.yaml"]  # no avatar, no temporary file
    assert load_card(cards / "mira.yaml").name == "Mine"


def test_replace_overwrites_an_existing_card(cards: Path) -> None:
    (cards / "mira.yaml").write_text("name: Mine\ndescription: d\ngreeting: hi\n")
    write_card(read_card(json.dumps(v2_card()).encode(), "m.json", cards), cards, replace=True)
    assert load_card(cards / "mira.yaml").name == "Mira"


def test_a_name_in_another_script_falls_back_to_the_file_name_for_the_id(cards: Path) -> None:
    source = v2_card()
    source["data"]["name"] = "星瑶"
    assert read_card(json.dumps(source).encode(), "xing-yao card.json", cards).card.id == "xing-yao-card"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=1, max_size=200))
def test_any_text_survives_the_yaml_card_file(text: str) -> None:
    card = CharacterCard(name="X", description=text, greeting=[text, "b"], scenario=text + "\n")
    assert dump_card_yaml(card)  # raises if the YAML would not read back as the same card


def test_sillytaverns_talkativeness_is_the_cards_and_goes_back_where_it_came_from(cards: Path) -> None:
    source = v2_card()
    source["data"]["extensions"]["talkativeness"] = "0.8"
    card = imported(cards, source)
    assert (card.talkativeness, card.speaks_up, "talkativeness" in card.extensions) == (0.8, 0.8, False)
    assert json.loads(export_card(card, "v2", cards)) == source


def test_a_talkativeness_written_unusually_is_kept_as_written_and_still_read(cards: Path) -> None:
    source = v2_card()
    source["data"]["extensions"]["talkativeness"] = 0.25  # a number, not SillyTavern's text
    card = imported(cards, source)
    assert (card.talkativeness, card.speaks_up) == (None, 0.25)
    assert json.loads(export_card(card, "v2", cards)) == source
