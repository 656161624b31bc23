"""anima.memory.wordpiece gives the ids the `tokenizers` library gives for MiniLM's tokenizer.json."""

from __future__ import annotations

import json
import random
import zipfile

import pytest
from tokenizers import Tokenizer

from anima.memory.embedding import _model_zip, minilm_tokenizer
from anima.memory.wordpiece import _CHANGED, _UNKNOWN, WordPiece


@pytest.fixture(scope="module")
def library() -> Tokenizer:
    with zipfile.ZipFile(_model_zip()) as archive:
        tokenizer = Tokenizer.from_str(archive.read("tokenizer.json").decode())
    tokenizer.no_padding()
    tokenizer.enable_truncation(512)
    return tokenizer


TEXTS = [
    "Hello, World! Don't   stop\t\nme.",
    "ΟΔΟΣ straße İstanbul café naïve Ǆ ﬁ Ⅻ ①",
    "你好，世界！今天天气怎么样？日本語のテキスト。한국어 텍스트",
    "🎉 emoji 👩‍👩‍👧‍👦 family",
    "[CLS] x [MASK] y[SEP]z [cls] [UNK]",
    "supercalifragilisticexpialidocious " + "a" * 150,
    "x\x00y\ufffdz\x1cw\x85v\u2028u\u200bt\u00a0s",
    "مرحبا بالعالم Привет, мир! ٣٤٥",
    "word " * 600,
    "",
    "   ",
]


@pytest.mark.parametrize("text", TEXTS)
def test_ids_are_the_librarys(library: Tokenizer, text: str) -> None:
    assert minilm_tokenizer().encode(text).ids == library.encode(text).ids


def test_every_kind_of_character_gives_the_librarys_ids(library: Tokenizer) -> None:
    rng = random.Random(25)
    codes = sorted(_UNKNOWN | set(_CHANGED)) + [rng.randrange(0x110000) for _ in range(3000)]
    for code in codes:
        if 0xD800 <= code < 0xE000:
            continue
        c = chr(code)
        text = f"a{c}b {c}{c} x{c}É"
        assert minilm_tokenizer().encode(text).ids == library.encode(text).ids, hex(code)


def test_random_text_from_many_scripts_gives_the_librarys_ids(library: Tokenizer) -> None:
    rng = random.Random(7)
    blocks = [(0x20, 0x7F), (0xA0, 0x36F), (0x370, 0x52F), (0x600, 0x6FF), (0x3040, 0x30FF)]
    blocks += [(0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0x1F300, 0x1FAFF), (0x0, 0x20), (0x2000, 0x206F)]
    texts = [
        "".join(
            chr(rng.randint(*rng.choice(blocks))) if rng.random() < 0.5 else rng.choice(" \n\t'abc19,.!")
            for _ in range(rng.randint(1, 80))
        )
        for _ in range(300)
    ]
    assert [e.ids for e in minilm_tokenizer().encode_batch(texts)] == [
        e.ids for e in library.encode_batch(texts)
    ]


def test_a_text_is_cut_to_the_token_limit_as_the_library_cuts_it(library: Tokenizer) -> None:
    with zipfile.ZipFile(_model_zip()) as archive:
        short = WordPiece(json.loads(archive.read("tokenizer.json")), max_tokens=16)
    library.enable_truncation(16)
    try:
        for text in ["one two three " * 10, "[MASK] " * 20, "超长的中文句子" * 5]:
            assert short.encode(text).ids == library.encode(text).ids
    finally:
        library.enable_truncation(512)


def test_the_vocabulary_is_the_librarys(library: Tokenizer) -> None:
    assert minilm_tokenizer().get_vocab() == library.get_vocab()
    assert minilm_tokenizer().get_vocab_size() == library.get_vocab_size()
