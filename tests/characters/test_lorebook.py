"""Lorebook activation: keys, secondary-key logic, scan depth, constants, recursion, bounded regexes."""

from __future__ import annotations

import time
from typing import Any

from anima.characters.card import Lorebook, LorebookEntry
from anima.characters.lorebook import activate, key_problem


def entry(content: str, *keys: str, **fields: Any) -> LorebookEntry:
    return LorebookEntry(content=content, keys=list(keys), **fields)


def triggered(entries: list[LorebookEntry], *messages: str, **book: Any) -> list[str]:
    found = activate([Lorebook(entries=entries, **book)], list(messages))
    return sorted(a.text for a in found)


def test_a_key_matches_whole_words_in_any_case() -> None:
    dragons = [entry("Dragons breathe fire.", "dragon")]
    assert triggered(dragons, "I saw a DRAGON!") == ["Dragons breathe fire."]
    assert triggered(dragons, "a dragonfly landed") == []


def test_a_case_sensitive_key_needs_the_exact_case() -> None:
    ash = [entry("Ash is a city.", "Ash", case_sensitive=True)]
    assert triggered(ash, "We reached Ash.") == ["Ash is a city."]
    assert triggered(ash, "covered in ash") == []


def test_whole_words_can_be_turned_off() -> None:
    assert triggered([entry("Bugs.", "bug", match_whole_words=False)], "ladybugs everywhere") == ["Bugs."]


def test_a_key_in_chinese_matches_inside_a_sentence() -> None:
    assert triggered([entry("夜航星 is her song.", "夜航星")], "你会唱夜航星吗？") == ["夜航星 is her song."]


def test_regex_keys_as_slashes_or_with_use_regex() -> None:
    lights = [entry("A lighthouse.", "/light ?house/i"), entry("A tower.", r"tow(er|ers)\b", use_regex=True)]
    assert triggered(lights, "the Light House and the towers") == ["A lighthouse.", "A tower."]


def test_an_invalid_regex_matches_nothing() -> None:
    assert triggered([entry("never", "/([a-z/", use_regex=True)], "([a-z") == []


def test_a_catastrophic_regex_is_bounded_in_time_and_matches_nothing() -> None:
    evil = [entry(f"evil {i}", "(x+x+)+y", use_regex=True) for i in range(20)]
    started = time.monotonic()
    assert triggered(evil, "x" * 5000) == []
    assert time.monotonic() - started < 1.0  # 20 searches, one shared budget of 0.25 s


def test_validate_explains_a_catastrophic_or_invalid_regex() -> None:
    assert key_problem("(x+x+)+y", use_regex=True) == (
        "regular expression '(x+x+)+y' takes too long on ordinary text (catastrophic backtracking)"
    )
    assert (key_problem("/([a-z/", use_regex=False) or "").startswith("invalid regular expression '/([a-z/':")
    assert key_problem("plain words", use_regex=False) is None


def test_secondary_keys_and_any() -> None:
    ship = [entry("The ship.", "harbour", secondary_keys=["ship", "boat"], selective=True)]
    assert triggered(ship, "a boat in the harbour") == ["The ship."]
    assert triggered(ship, "the harbour is empty") == []


def test_secondary_keys_and_all() -> None:
    ship = [entry("x", "harbour", secondary_keys=["ship", "boat"], selective=True, selective_logic="and_all")]
    assert triggered(ship, "a boat in the harbour") == []
    assert triggered(ship, "a boat and a ship in the harbour") == ["x"]


def test_secondary_keys_not_any() -> None:
    calm = [
        entry("calm", "harbour", secondary_keys=["storm", "wind"], selective=True, selective_logic="not_any")
    ]
    assert triggered(calm, "the harbour at dawn") == ["calm"]
    assert triggered(calm, "wind over the harbour") == []


def test_secondary_keys_not_all() -> None:
    e = [entry("x", "harbour", secondary_keys=["storm", "wind"], selective=True, selective_logic="not_all")]
    assert triggered(e, "wind over the harbour") == ["x"]
    assert triggered(e, "storm and wind over the harbour") == []


def test_only_the_newest_scan_depth_messages_are_scanned() -> None:
    sword = [entry("The sword.", "sword")]
    assert triggered(sword, "my sword", "hello", "how are you") == []  # default depth 2
    assert triggered(sword, "my sword", "hello", "how are you", scan_depth=3) == ["The sword."]


def test_an_entry_scan_depth_overrides_the_lorebook() -> None:
    assert triggered([entry("The sword.", "sword", scan_depth=3)], "my sword", "a", "b") == ["The sword."]


def test_scan_depth_zero_leaves_only_constant_entries() -> None:
    lore = [entry("always", constant=True), entry("sword", "sword")]
    assert triggered(lore, "sword", scan_depth=0) == ["always"]


def test_disabled_entries_never_activate() -> None:
    assert (
        triggered(
            [entry("off", "sword", enabled=False), entry("off2", constant=True, enabled=False)], "sword"
        )
        == []
    )


def test_recursive_scanning_lets_entries_trigger_each_other() -> None:
    lore = [entry("The king lives in the castle.", "king"), entry("The castle has a moat.", "castle")]
    assert triggered(lore, "tell me about the king") == ["The king lives in the castle."]
    assert triggered(lore, "tell me about the king", recursive_scanning=True) == [
        "The castle has a moat.",
        "The king lives in the castle.",
    ]


def test_recursion_stops_at_its_step_limit() -> None:
    chain = [entry(f"step{i + 1}", f"step{i}") for i in range(10)]
    found = triggered(chain, "step0", recursive_scanning=True, max_recursion_steps=2)
    assert found == ["step1", "step2", "step3"]  # the chat's match, then two recursive steps


def test_prevent_and_exclude_recursion() -> None:
    lore = [entry("castle talk", "king", prevent_recursion=True), entry("moat", "castle")]
    assert triggered(lore, "king", recursive_scanning=True) == ["castle talk"]
    lore = [entry("castle talk", "king"), entry("moat", "castle", exclude_recursion=True)]
    assert triggered(lore, "king", recursive_scanning=True) == ["castle talk"]


def test_decorators_are_removed_from_the_text_and_applied() -> None:
    [deep] = activate(
        [Lorebook(entries=[entry("@@depth 1\n@@role user\nThe well is deep.", "well")])], ["well"]
    )
    assert (deep.text, deep.position, deep.depth, deep.role) == ("The well is deep.", "at_depth", 1, "user")
    assert triggered([entry("@@dont_activate\nnever", "well")], "well") == []
    assert triggered([entry("@@additional_keys pond, lake\nwater", "well")], "a lake") == ["water"]


def test_a_regex_key_that_would_take_seconds_to_compile_matches_nothing_and_validate_says_why() -> None:
    grows = [entry("never", "/(?:a{65535}){65535}/")]
    assert triggered(grows, "a" * 100) == []
    assert key_problem("(a{1000}){1000}", use_regex=True) == (
        "regular expression '(a{1000}){1000}' repeats too much to compile (its counted repeats multiply "
        "to more than 10,000); it matches nothing"
    )
