"""A small model's reply is tidied as it streams: no loops, no other speaker's lines, a clean end."""

from __future__ import annotations

from anima.llm.tidy import ReplyTidier, tidy

AIKO = ["Aiko"]


def streamed(text: str, finished: bool, size: int = 3) -> tuple[list[str], str]:
    """Feed `text` in small pieces as llama.cpp would; what was shown piece by piece, and in all."""
    tidier = ReplyTidier(AIKO, ["Lin"])
    shown = []
    for i in range(0, len(text), size):
        shown.append(tidier.feed(text[i : i + size]))
        if tidier.done:
            break
    shown.append(tidier.end(finished and not tidier.done))
    return shown, "".join(shown)


def test_a_loop_ends_before_the_third_time_round() -> None:
    looped = "My cat is a sassy " + "sassy " * 150
    assert tidy(looped, AIKO, ["Lin"], finished=False) == "My cat is a sassy sassy …"
    _, shown = streamed("I'm so glad you're here. " * 15, finished=False)
    assert shown == "I'm so glad you're here. I'm so glad you're here."


def test_chinese_loops_and_punctuation_runs_are_cut() -> None:
    assert tidy("美女！美女！美女！美女！美女！", ["星瑶"], finished=False) == "美女！美女！"
    assert tidy("好的；；；；；；我们走吧。", ["星瑶"]) == "好的；我们走吧。"


def test_the_reply_stops_where_the_model_starts_speaking_for_the_user() -> None:
    assert tidy("Fifty gold. Good steel.\nLin: That's too much!\nGrimble: Hmph.", ["Grimble"]) == (
        "Fifty gold. Good steel."
    )
    assert tidy("Fifty gold. User: ok", ["Grimble"], ["Lin"]) == "Fifty gold."
    assert tidy("Fifty gold. Lin: I'll take it.", ["Grimble"], ["Lin"]) == "Fifty gold."


def test_the_characters_own_label_is_dropped_and_other_labels_end_it() -> None:
    assert tidy("Aiko: Hi Lin! Tea?", AIKO) == "Hi Lin! Tea?"
    assert tidy("Hi Lin!\nMax: I'm Max, an artist.", AIKO) == "Hi Lin!"
    assert tidy("Hi Lin!\n**Old Tom**: Evening.", AIKO) == "Hi Lin!"


def test_a_reply_cut_by_its_token_limit_ends_on_a_whole_sentence() -> None:
    _, shown = streamed("Oh no, I'm sorry! That's really frustrating. What happ", finished=False)
    assert shown == "Oh no, I'm sorry! That's really frustrating."


def test_a_reply_without_any_sentence_end_ends_visibly_unfinished_not_mid_word() -> None:
    assert tidy("I think we should go to the bakery and ask her abo", AIKO, finished=False) == (
        "I think we should go to the bakery and ask her …"
    )
    assert tidy("well I was thinking that maybe we could", AIKO, finished=False) == (
        "well I was thinking that maybe we …"
    )


def test_a_finished_reply_is_shown_whole_even_without_a_full_stop() -> None:
    assert tidy("See you tomorrow, Lin", AIKO, finished=True) == "See you tomorrow, Lin"


def test_text_goes_out_a_sentence_at_a_time() -> None:
    pieces, shown = streamed("Hi Lin! How was work? I made tea.", finished=True)
    assert shown == "Hi Lin! How was work? I made tea."
    assert next(p for p in pieces if p) == "Hi Lin!"


def test_times_and_ordinary_colons_are_not_taken_for_speakers() -> None:
    text = "Sure.\nMeet at 10:30 by the bakery.\nHere's the plan: tea first."
    assert tidy(text, AIKO) == text


def test_a_sentence_where_the_character_takes_another_name_is_left_out() -> None:
    assert (
        tidy("Hi Lin! I'm Max, a brilliant artist. Want some tea?", AIKO, ["Lin"]) == "Hi Lin! Want some tea?"
    )
    assert tidy("I'm Aiko, silly! I'm so glad you came.", AIKO) == "I'm Aiko, silly! I'm so glad you came."
    assert tidy("Hi! My real name is Li Yehong. Tea?", AIKO) == "Hi! Tea?"
    assert tidy("你好！我叫小美。想听歌吗？", ["星瑶 Xingyao", "星瑶"]) == "你好！想听歌吗？"


def test_a_reply_ends_after_three_sentences() -> None:
    assert tidy("One. Two! Three? Four. Five.", AIKO) == "One. Two! Three?"
