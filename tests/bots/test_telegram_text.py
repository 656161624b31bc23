"""How replies are cut for Telegram's 4096-unit limit and made safe for groups."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from anima.bots.telegram.messages import defuse_mentions, split_text, utf16_len


def test_a_short_reply_stays_one_message() -> None:
    assert split_text("Hello there.") == ["Hello there."]


def test_a_long_reply_is_cut_at_paragraph_ends() -> None:
    paragraphs = [f"Paragraph {i}. " + "word " * 200 + "end." for i in range(10)]
    pieces = split_text("\n\n".join(paragraphs))
    assert all(utf16_len(p) <= 4096 for p in pieces)
    assert "\n\n".join(pieces) == "\n\n".join(paragraphs)


def test_without_paragraphs_a_reply_is_cut_after_a_sentence() -> None:
    text = "This is one sentence. " * 400
    pieces = split_text(text)
    assert len(pieces) == 3
    assert all(p.endswith("sentence.") for p in pieces)


def test_text_without_any_break_is_cut_at_the_limit() -> None:
    pieces = split_text("x" * 9000)
    assert [len(p) for p in pieces] == [4096, 4096, 808]


def test_emoji_count_as_two_units_towards_the_limit() -> None:
    pieces = split_text("😀" * 3000)  # 6000 UTF-16 units
    assert [utf16_len(p) for p in pieces] == [4096, 1904]


@given(st.text(alphabet=st.sampled_from("ab .!\n😀"), max_size=400))
def test_splitting_keeps_every_character_within_the_limit(text: str) -> None:
    pieces = split_text(text, limit=50)
    assert all(0 < utf16_len(p) <= 50 for p in pieces)
    assert "".join("".join(pieces).split()) == "".join(text.split())


def test_mentions_in_model_output_are_defused_but_emails_kept() -> None:
    out = defuse_mentions("ping @everyone_here, mail me@example.com")
    assert "@everyone_here" not in out
    assert "me@example.com" in out
