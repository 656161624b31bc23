"""Text for speech: what a reply says out loud, and in which language each part is read."""

from __future__ import annotations

from anima.voice.text import DIRECTION_PAUSE_S, clean, script, sentences


def spoken(text: str, language: str = "en") -> str:
    return " ".join(segment.text for segment in script(text, language))


def test_markdown_marks_are_not_spoken() -> None:
    said = spoken("# Tea\n**Jasmine** is _lovely_, try `green` too.\n- one cup\n- two cups\n> quoted ~~old~~")
    assert not set(said) & set("#*_`>~")
    for word in ("Tea", "Jasmine", "lovely", "green", "one cup", "two cups", "quoted", "old"):
        assert word in said


def test_links_keep_their_words_and_urls_are_dropped() -> None:
    said = spoken("See [my sketchbook](https://example.com/sketch), www.example.org/x and https://t.co/abc.")
    assert "my sketchbook" in said
    assert "http" not in said and "example" not in said and "t.co" not in said


def test_emoji_are_dropped() -> None:
    said = spoken("Good night 🌙✨ sleep well 👍🏽 see you ❤️ tomorrow 👨‍👩‍👧")
    assert said == "Good night sleep well see you tomorrow."


def test_code_blocks_are_not_read_aloud() -> None:
    said = spoken("Here:\n```python\nprint('hello')\n```\nDone.")
    assert "print" not in said and "Here" in said and "Done" in said


def test_stage_directions_become_pauses() -> None:
    segments = script("Hello! *smiles warmly* Nice to see you (laughs) again [sighs] bye.", "en")
    said = " ".join(s.text for s in segments)
    assert "smiles" not in said and "laughs" not in said and "sighs" not in said
    assert [s.pause_after_s for s in segments[:-1]] == [DIRECTION_PAUSE_S] * 3


def test_a_long_aside_in_brackets_is_read() -> None:
    said = spoken("I went out (it was raining all day long and the streets were flooded) anyway.")
    assert "streets were flooded" in said


def test_mixed_chinese_and_english_alternate_languages() -> None:
    segments = script("你好呀！I'm 星瑶, a singer. 今天想听歌吗？", "zh")
    assert [(s.language, s.text) for s in segments] == [
        ("zh", "你好呀！"),
        ("en", "I'm"),
        ("zh", "星瑶,"),
        ("en", "a singer."),
        ("zh", "今天想听歌吗？"),
    ]


def test_an_english_card_reads_chinese_words_in_chinese() -> None:
    languages = [s.language for s in script("My favourite word is 星星, it means stars.", "en-US")]
    assert languages == ["en", "zh", "en"]


def test_sentences_split_at_western_and_chinese_marks() -> None:
    assert sentences("One. Two? Three!四。五！六") == ["One.", "Two?", "Three!四。", "五！", "六"]


def test_a_line_without_a_full_stop_still_ends_its_sentence() -> None:
    assert spoken("First line\nsecond line") == "First line. second line."


def test_a_runaway_reply_is_cut_at_a_sentence_end() -> None:
    said = spoken("This is one sentence. " * 200, "en")
    assert len(said) <= 1500 and said.endswith("sentence.")


def test_nothing_but_emoji_leaves_nothing_to_say() -> None:
    assert script("😊🎉 *waves*", "en") == []
    assert clean("https://example.com") == ""
