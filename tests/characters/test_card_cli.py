"""`anima card new | validate | import | export`, run in-process as a user would type them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from anima.characters import png
from anima.cli import main
from tests.characters.samples import chunk, png_with, v2_card


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_new_card_is_a_valid_commented_template(cards: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "card", "new", "Old Tom")[0] == 0
    text = (cards / "old-tom.yaml").read_text()
    assert text.startswith("# Old Tom: a character card.") and "# V2 first_mes" in text
    assert run(capsys, "card", "validate") == (0, "ok: characters/old-tom.yaml\n", "")


def test_new_never_overwrites_a_card(cards: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (cards / "old-tom.yaml").write_text("mine")
    code, _, err = run(capsys, "card", "new", "Old Tom")
    assert (code, err) == (
        2,
        "error: characters/old-tom.yaml already exists; pick another name or edit that card\n",
    )
    assert (cards / "old-tom.yaml").read_text() == "mine"


def test_validate_reports_every_error_with_file_and_line_and_exits_1(
    cards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (cards / "good.yaml").write_text("name: G\ndescription: d\ngreeting: hi\n")
    (cards / "bad.yaml").write_text("name: B\ndescription: d\ngreeting: 3\npersona: x\n")
    code, out, _ = run(capsys, "card", "validate", "characters")
    assert code == 1
    assert out.splitlines() == [
        "error: characters/bad.yaml:3: greeting: expected text or a list of texts, got a number",
        "error: characters/bad.yaml:4: persona: unknown field",
        "ok: characters/good.yaml",
    ]


def test_validate_warns_about_unknown_macros_and_bad_regexes(
    cards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (cards / "x.yaml").write_text(
        "name: X\ndescription: |\n  {{char}} is kind.\n  {{char}} is {{mood}}.\ngreeting: hi\n"
        "lorebook:\n  entries:\n    - keys: ['(x+x+)+y']\n      use_regex: true\n      content: c\n"
    )
    code, out, _ = run(capsys, "card", "validate", "characters/x.yaml")
    assert code == 1
    assert out.splitlines() == [
        "warning: characters/x.yaml:4: description: unknown macro {{mood}} is left as written",
        "error: characters/x.yaml:8: lorebook.entries[0].keys[0]: regular expression '(x+x+)+y' "
        "takes too long on ordinary text (catastrophic backtracking)",
    ]


def test_validate_json_output_for_editors(cards: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (cards / "bad.yaml").write_text("name: B\ndescription: d\ngreeting: hi\nvoice:\n  engine: siri\n")
    code, out, _ = run(capsys, "card", "validate", "--json")
    assert code == 1
    assert json.loads(out) == {
        "valid": False,
        "files": [
            {
                "file": "characters/bad.yaml",
                "valid": False,
                "problems": [
                    {
                        "severity": "error",
                        "file": "characters/bad.yaml",
                        "line": 5,
                        "field": "voice.engine",
                        "message": "expected one of 'espeak', 'openai' or 'piper', got 'siri'",
                    }
                ],
            }
        ],
    }


def test_validate_checks_png_and_json_cards_too(cards: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (cards.parent / "cat.png").write_bytes(png_with({}))
    code, out, _ = run(capsys, "card", "validate", "cat.png")
    assert (code, out) == (
        1,
        "error: cat.png: no character card inside: the PNG has no 'ccv3' or 'chara' text chunk\n",
    )


def test_import_then_export_as_png(cards: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (cards.parent / "Mira.png").write_bytes(png_with({"chara": chunk(v2_card())}))
    code, out, err = run(capsys, "card", "import", "Mira.png")
    assert code == 0, err
    assert out == "imported Mira.png (V2) → characters/mira.yaml, avatar characters/mira.png\n"
    assert run(capsys, "card", "export", "mira", "--format", "png")[1] == "exported mira as PNG → mira.png\n"
    texts = png.card_texts(png.read_chunks((cards.parent / "mira.png").read_bytes()))
    assert json.loads(base64.b64decode(texts["chara"])) == v2_card()


def test_export_v3_json(cards: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (cards / "g.yaml").write_text("name: G\ndescription: d\ngreeting: [hi, hello]\n")
    assert run(capsys, "card", "export", "g", "--format", "v3", "--out", "out.json")[0] == 0
    exported = json.loads((cards.parent / "out.json").read_text())
    assert exported["spec"] == "chara_card_v3"
    assert (exported["data"]["first_mes"], exported["data"]["alternate_greetings"]) == ("hi", ["hello"])


def test_a_failed_import_writes_nothing_and_the_rest_still_import(
    cards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (cards.parent / "cut.png").write_bytes(png_with({"chara": chunk(v2_card())})[:200])
    (cards.parent / "mira.json").write_text(json.dumps(v2_card()))
    code, out, err = run(capsys, "card", "import", "cut.png", "mira.json")
    assert code == 1
    assert err.startswith("error: cut.png: truncated PNG")
    assert out == "imported mira.json (V2) → characters/mira.yaml\n"
    assert sorted(p.name for p in cards.iterdir()) == ["mira.yaml"]
