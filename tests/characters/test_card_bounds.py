"""A card stays inside its folder, its id is a plain name, its llm settings stay within the config's,
its YAML keys are set once, and the lorebook index never changes what an entry is triggered by."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from anima.characters.card import CharacterCard, Lorebook, LorebookEntry
from anima.characters.exporter import export_card
from anima.characters.install import install_card_reporting
from anima.characters.library import load_card
from anima.characters.lorebook import activate, compile_key
from anima.cli import main
from anima.config import LLMSettings, OpenAIBackend
from anima.errors import ConfigError, InputRejected, VoiceError
from anima.voice.engine import VoiceChoice
from tests.characters.hostile import v2

CARD = "name: Tom\ndescription: d\ngreeting: hi\n"


def refusal(path: Path) -> list[str]:
    with pytest.raises(InputRejected) as caught:
        load_card(path)
    return caught.value.problems


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_a_lorebook_path_out_of_the_folder_is_refused_with_its_line(cards: Path) -> None:
    (cards.parent / "secret.json").write_text('{"entries": []}')
    (cards / "tom.yaml").write_text(CARD + "lorebooks:\n  - ../secret.json\n")
    with pytest.raises(ConfigError) as caught:
        load_card(cards / "tom.yaml")
    assert caught.value.problems == [
        "characters/tom.yaml:5: lorebooks[0]: '../secret.json' is outside the card's folder (symlinks are "
        "followed); put the lorebook inside it"
    ]


def test_a_symlink_out_of_the_folder_is_followed_and_refused(cards: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "world.json").write_text('{"entries": [{"keys": ["k"], "content": "stolen"}]}')
    (cards / "shared").symlink_to(outside, target_is_directory=True)
    (cards / "tom.yaml").write_text(CARD + "lorebooks: [shared/world.json]\n")
    with pytest.raises(ConfigError) as caught:
        load_card(cards / "tom.yaml")
    assert "lorebooks[0]: 'shared/world.json' is outside the card's folder" in caught.value.problems[0]


def test_an_avatar_out_of_the_folder_is_refused_and_never_exported(cards: Path) -> None:
    (cards / "tom.yaml").write_text(CARD + "avatar: ../../etc/passwd\n")
    assert refusal(cards / "tom.yaml") == [
        "characters/tom.yaml:4: avatar: '../../etc/passwd' is outside the card's folder; "
        "put the image next to the card"
    ]
    card = CharacterCard(name="Tom", description="d", greeting=["hi"], avatar="../../etc/passwd")
    card.id = "tom"
    with pytest.raises(InputRejected, match="outside the characters folder"):
        export_card(card, "png", cards)


def test_an_import_id_that_is_a_path_is_refused_and_nothing_is_written(
    cards: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mira.json").write_text(json.dumps(v2()))
    before = files_under(tmp_path)
    assert main(["card", "import", "mira.json", "--id", "../../x"]) == 1
    assert capsys.readouterr().err == (
        "error: mira.json: --id: id '../../x' is not a plain name: use letters, digits, '-' and '_' "
        "(at most 64, starting with a letter or digit), e.g. 'aiko-tanaka'\n"
    )
    assert files_under(tmp_path) == before
    assert not (tmp_path.parent.parent / "x.yaml").exists()


def test_a_piper_voice_path_out_of_the_voices_folder_is_refused(cards: Path, tmp_path: Path) -> None:
    (cards / "tom.yaml").write_text(CARD + "voice:\n  engine: piper\n  voice: ../../models/other.onnx\n")
    with pytest.raises(ConfigError) as caught:
        load_card(cards / "tom.yaml")
    assert "voice: '../../models/other.onnx': a piper voice is a file name inside" in caught.value.problems[0]
    # and the engine itself follows symlinks: a link in voices/ to a model elsewhere is not loaded
    from anima.config import PiperVoiceSettings
    from anima.voice.piper_engine import PiperEngine

    voices = tmp_path / "voices"
    voices.mkdir()
    (tmp_path / "other.onnx").write_bytes(b"not yours")
    (voices / "amy.onnx").symlink_to(tmp_path / "other.onnx")
    engine = PiperEngine(PiperVoiceSettings(), voices, off_loop=None)  # type: ignore[arg-type]
    with pytest.raises(VoiceError, match="is outside"):
        engine.speak("hello", "en", VoiceChoice(engine="piper", voice="amy.onnx", language="en"))


def test_an_imported_cards_llm_settings_are_held_to_the_configured_backend(cards: Path) -> None:
    llm = LLMSettings(
        default="remote",
        backends={"remote": OpenAIBackend(kind="openai", model="gpt-4o-mini", max_tokens=400)},
    )
    asks = {"anima": {"llm": {"backend": "expensive", "model": "o1-pro", "max_tokens": 8192}}}
    imported = install_card_reporting(json.dumps(v2(extensions=asks)).encode(), "mira.json", cards, llm=llm)
    assert imported.warnings == [
        "mira.json: llm.backend: 'expensive' is not defined in llm.backends here; dropped, the card uses "
        "the default backend 'remote'",
        "mira.json: llm.model: 'o1-pro' dropped: an imported card uses the model backend 'remote' is "
        "configured with (gpt-4o-mini)",
        "mira.json: llm.max_tokens: 8,192 lowered to 400, the max_tokens of backend 'remote'",
    ]
    saved = load_card(cards / "mira.yaml").llm
    assert (saved.backend, saved.model, saved.max_tokens) == (None, None, 400)


def test_an_imported_yaml_card_with_llm_settings_is_clamped_too(cards: Path) -> None:
    text = CARD + "llm:\n  max_tokens: 8192\n"
    settings = LLMSettings()
    limit = settings.backends[settings.default].max_tokens  # the default backend's, whatever it is
    imported = install_card_reporting(text.encode(), "tom.yaml", cards, llm=settings)
    assert f"llm.max_tokens: 8,192 lowered to {limit:,}" in imported.warnings[0]
    assert load_card(cards / "tom.yaml").llm.max_tokens == limit < 8192


def test_a_key_set_twice_in_a_card_names_both_lines(cards: Path) -> None:
    (cards / "tom.yaml").write_text(CARD + "description: again\n")
    with pytest.raises(ConfigError) as caught:
        load_card(cards / "tom.yaml")
    assert caught.value.problems == [
        "characters/tom.yaml:4: description: duplicate key: also set on line 2; keep one"
    ]


def test_a_lorebook_over_the_entry_cap_names_its_line(cards: Path) -> None:
    entries = "".join("    - content: c\n" for _ in range(5001))
    (cards / "tom.yaml").write_text(CARD + "lorebook:\n  entries:\n" + entries)
    assert refusal(cards / "tom.yaml") == [
        "characters/tom.yaml:5: lorebook.entries: 5,001 lorebook entries, more than the 5,000 one lorebook "
        "may have; split it or remove entries"
    ]


WORDS = ["harbour", "Ash", "bug", "夜航星", "tea", "rain", "ox", "a", "moon-gate", "salt coast", "Über"]


def _brute_force(entries: list[LorebookEntry], messages: list[str], depth: int) -> set[str]:
    """What a scan of every key of every entry over the last `depth` messages finds (no index)."""
    text = "\n".join(messages[-depth:])
    found = set()
    for entry in entries:
        for key in entry.keys:
            compiled = compile_key(
                key, bool(entry.case_sensitive), entry.match_whole_words is not False, False
            )
            if compiled is not None and compiled.pattern.search(text):
                found.add(entry.content)
    return found


def test_the_key_index_triggers_exactly_what_scanning_every_key_would() -> None:
    rng = random.Random(17)
    entries = [
        LorebookEntry(
            keys=[*rng.sample(WORDS, 2), f"{rng.choice(WORDS)}{i}"],
            content=f"entry {i}",
            case_sensitive=rng.random() < 0.3 or None,
            match_whole_words=False if rng.random() < 0.3 else None,
        )
        for i in range(400)
    ]
    book = Lorebook(entries=entries, scan_depth=2)
    for _ in range(60):
        messages = [
            " ".join(
                rng.choice([*WORDS, "HARBOUR", "ash", "ladybugs", "über", "x", "tea7"]) for _ in range(6)
            )
            for _ in range(4)
        ]
        assert {a.text for a in activate([book], messages)} == _brute_force(entries, messages, 2)
