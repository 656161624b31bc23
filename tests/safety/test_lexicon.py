"""The lexicon's data file: pieces put into patterns, lists joined, and a clear error for a piece it lacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from anima.safety import lexicon
from anima.safety.lexicon import Scan

TABLES = """
tables:
  leaving:
    pieces:
      place: {any: ['home', 'away']}
      going: ['\\bgo(?:ing)?\\s+', '{place}']
    rules:
      - words: 'go going'
        also: ['ho', 'me away']
        patterns: ['{going}\\b']
      - cjk: '回家'
        patterns: ['我要回家']
  staying:
    category: leaving
    rules:
      - words: 'stay'
        patterns: ['\\bstay\\s+{place}']
zh_profanity: {strong: ['傻逼'], mild: ['妈的']}
"""


def _tables(tmp_path: Path, text: str) -> dict[str, list[lexicon.Rule]]:
    path = tmp_path / "lexicon.yaml"
    path.write_text(text, encoding="utf-8")
    return lexicon._load(path)[0]


def test_a_rule_is_its_pieces_put_in_and_its_lists_joined(tmp_path: Path) -> None:
    tables = _tables(tmp_path, TABLES)
    going, chinese = tables["leaving"]
    assert going.pattern.pattern == r"(?:\bgo(?:ing)?\s+(?:home|away)\b)"
    assert going.words == {"go", "going"} and going.also == {"home", "away"}
    assert going.search(Scan.of("I am going home now")) is not None
    assert going.search(Scan.of("go homeward")) is None
    assert chinese.search(Scan.of("我要回家了")) is not None
    assert [rule.category for rule in tables["staying"]] == ["leaving"]  # a table may name its category
    assert tables["staying"][0].search(Scan.of("stay away")) is not None  # pieces reach later tables


def test_a_piece_used_before_it_is_named_is_an_error_naming_it_and_the_file(tmp_path: Path) -> None:
    text = TABLES.replace("['{going}", "['{gone}")
    assert "{gone}" in text
    with pytest.raises(ValueError, match=r"lexicon\.yaml: \{gone\} is used before a piece of that name"):
        _tables(tmp_path, text)


def test_the_shipped_rules_all_load_with_their_trigger_words() -> None:
    tables = [lexicon.HARASSMENT, lexicon.HATE, lexicon.SEXUAL_MINORS, lexicon.SELF_HARM, lexicon.VIOLENCE]
    tables += [lexicon.WEAPONS, lexicon.SEXUAL, lexicon.CRISIS, lexicon.CRISIS_MENTIONS]
    rules = [rule for table in tables for rule in table]
    assert all(rule.words or rule.cjk for rule in rules)  # a rule without triggers would never run
    assert "{" not in "".join(rule.pattern.pattern.replace("{0,", "").replace("{1,", "") for rule in rules)
    assert lexicon.ZH_PROFANITY_STRONG.search("你个傻逼") and lexicon.ZH_PROFANITY_MILD.search("妈的")
