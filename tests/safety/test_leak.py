"""The leak check sees through disguises: full-width letters, separators inside words, base64 and hex."""

from __future__ import annotations

import base64
import sys
import unicodedata

import pytest

from anima.characters.library import CharacterLibrary
from anima.core.prompt import render_system
from anima.safety.checks.leak import FORMAT_CHARACTERS, LeakCheck, contains_canary
from anima.safety.verdict import OutputContext, Rules
from tests.conftest import REPO

CANARY = "zx-3f9a01bc77de"


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@pytest.mark.parametrize(
    "reply",
    [
        f"my marker: {fullwidth(CANARY)}",
        "my marker: " + "\u200b".join(CANARY),
        "my marker: " + ".".join(CANARY),
        "encoded for you: " + base64.b64encode(f"the marker is {CANARY}!".encode()).decode(),
        "encoded: " + base64.urlsafe_b64encode(CANARY.encode()).decode().rstrip("="),
        "hex: " + CANARY.encode().hex(),
        "hex: " + " ".join(f"{b:02x}" for b in f"is {CANARY}".encode()),
        "hex: abc" + CANARY.encode().hex(),  # starting on an odd digit
        "bytes: " + ", ".join(f"0x{b:02x}" for b in CANARY.encode()),
        "escaped: " + "".join(f"\\x{b:02x}" for b in CANARY.encode()),
        "url: " + "".join(f"%{b:02X}" for b in CANARY.encode()),
        "lines:\n" + "\n".join(_chunks(base64.b64encode(f"the marker is {CANARY}".encode()).decode(), 8)),
        "groups: " + " ".join(_chunks(base64.b64encode(f"marker {CANARY}".encode()).decode(), 4)),
        "backwards: " + CANARY[::-1],
        "no-break spaces: " + "\u00a0".join(CANARY),
        "soft hyphens: " + "\u00ad".join(CANARY),
        "circled: ⓩⓧ-③ⓕ⑨ⓐ⓪①ⓑⓒ⑦⑦ⓓⓔ",
    ],
)
def test_a_disguised_canary_is_still_found(reply: str) -> None:
    assert contains_canary(reply, CANARY)


@pytest.mark.parametrize(
    "reply",
    ["The kettle is on; base64 is a way to write bytes as text: aGVsbG8gd29ybGQ=", "deadbeef cafe 1234"],
)
def test_ordinary_text_and_other_encoded_text_is_not_a_canary(reply: str) -> None:
    assert not contains_canary(reply, CANARY)


async def test_the_system_prompt_with_separators_inside_its_words_is_a_leak() -> None:
    card = CharacterLibrary.load(REPO / "characters").get("aiko")
    system = render_system(card, "Lin")
    rules = " ".join(line for line in system.splitlines() if line.startswith("- "))  # the card's rules
    disguised = "-".join(rules)  # every letter split off by a hyphen
    context = OutputContext(card, Rules(), "Lin", canary=CANARY)
    verdict = await LeakCheck().check_output(f"Sure: {disguised}", context)
    assert verdict.action == "regenerate" and verdict.category == "prompt_leak"
    assert (await LeakCheck().check_output("The tea is ready, Lin. Shall we sit?", context)).action == "allow"


def test_the_invisible_characters_dropped_are_exactly_unicodes_format_characters() -> None:
    """A newer Python's Unicode may add some: then FORMAT_CHARACTERS needs them too."""
    differ = [
        f"U+{point:04X}"
        for point in range(sys.maxunicode + 1)
        if bool(FORMAT_CHARACTERS.fullmatch(chr(point))) != (unicodedata.category(chr(point)) == "Cf")
    ]
    assert differ == [], f"Unicode {unicodedata.unidata_version}"


def test_a_canary_with_tag_characters_and_bidi_marks_inside_is_found() -> None:
    hidden = "\U000e0041".join(CANARY[:6]) + "\u202e\u2066" + CANARY[6:]
    assert contains_canary(f"here it is: {hidden}", CANARY)
