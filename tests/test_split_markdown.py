"""Splitting a Markdown reply into a platform's messages (anima.core.text.split_markdown), at
Discord's 2,000 characters; that Discord's replies arrive so is tested in tests/bots/test_discord.py."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from anima.core.text import split_markdown

MESSAGE_LIMIT = 2000  # characters in one Discord message

words = st.text(alphabet="abcdefghij,.!?éß星", min_size=1, max_size=30)
separators = st.sampled_from([" ", " ", " ", "\n", "\n\n"])
prose = st.lists(st.tuples(words, separators), min_size=1, max_size=600).map(
    lambda pairs: "".join(w + s for w, s in pairs).strip()
)


def split_message(text: str) -> list[str]:
    return split_markdown(text, MESSAGE_LIMIT)


def fence_lines(piece: str) -> int:
    return sum(1 for line in piece.split("\n") if line.strip().startswith("```"))


@given(prose)
def test_prose_splits_into_messages_within_the_limit_without_breaking_words(text: str) -> None:
    pieces = split_message(text)
    assert all(0 < len(p) <= MESSAGE_LIMIT for p in pieces)
    assert " ".join(pieces).split() == text.split()


def test_a_short_reply_is_one_message() -> None:
    assert split_message("Hello there!") == ["Hello there!"]


def test_a_4500_character_reply_is_three_messages() -> None:
    text = " ".join(f"word{i:04d}" for i in range(500))
    assert len(split_message(text)) == 3


def test_a_cut_inside_a_code_block_closes_it_and_reopens_it_with_its_language() -> None:
    code = "\n".join(f"    value_{i} = compute({i})" for i in range(150))
    text = f"Here is the script:\n\n```python\n{code}\n```\nRun it with Python 3."
    pieces = split_message(text)
    assert len(pieces) >= 3
    assert all(len(p) <= MESSAGE_LIMIT and fence_lines(p) % 2 == 0 for p in pieces)
    assert all(p.startswith("```python\n") for p in pieces[1:])
    assert pieces[-1].endswith("Run it with Python 3.")
    kept = [line for p in pieces for line in p.split("\n") if "value_" in line]
    assert kept == code.split("\n")  # every line whole, indentation kept


@given(st.lists(st.sampled_from(["```js", "```", "let x = 1;", "text", ""]), max_size=400))
def test_every_piece_has_balanced_code_fences(lines: list[str]) -> None:
    pieces = split_message("\n".join(lines * 3))
    assert all(len(p) <= MESSAGE_LIMIT and fence_lines(p) % 2 == 0 for p in pieces)


def test_a_stream_stopped_inside_a_code_block_is_closed() -> None:
    assert split_message("Look:\n```py\nprint(1)") == ["Look:\n```py\nprint(1)\n```"]


def test_a_word_longer_than_a_message_is_the_only_thing_cut() -> None:
    pieces = split_message("see " + "x" * 4500)
    assert all(len(p) <= MESSAGE_LIMIT for p in pieces)
    assert "".join(pieces).replace("see", "") == "x" * 4500
