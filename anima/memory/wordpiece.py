"""all-MiniLM-L6-v2's WordPiece tokenizer in Python: the ids the `tokenizers` library gives for its
tokenizer.json (BertNormalizer, BertPreTokenizer, WordPiece, [CLS] … [SEP]), without loading that
library and its copy of the vocabulary (~12 MB resident; this is the 30k-entry dict, ~3 MB).

Used where only ids are needed (the static encoder, the guard's token vectors); the full MiniLM
encoder, which pads and masks batches, keeps the library.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

PREFIX = "##"  # a piece inside a word
WORDS_KEPT = 8192  # words kept with their pieces (~1 MB)
CHARS_KEPT = 20_000  # characters kept with what the normaliser makes of them
MAX_WORD = 100  # characters; a longer word is one [UNK], as the library's max_input_chars_per_word
# The library's BERT "Chinese character" blocks: each such character becomes a word of its own.
_CJK = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F)]
_CJK += [(0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]
# Unicode's White_Space (Rust's char::is_whitespace; Python's isspace() also takes \x1c-\x1f).
_WHITE_SPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {
    chr(c) for c in range(0x2000, 0x200B)
}
_OTHER = frozenset({"Cc", "Cf", "Co", "Cs"})  # the library's "control": not unassigned (Cn) code points
_PUNCTUATION = frozenset({"Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps"})


# Marks, punctuation and format characters newer than the library's category tables: it reads them as
# unassigned (kept, in a word, like a letter), and three whose category has changed since. Found by
# comparing every code point with the library (tests/memory/test_wordpiece.py).
_UNKNOWN_TO_THE_LIBRARY = """
    61D 7FD 890-891 898-89F 8CA-8E2 9FD-9FE A76 AFA-AFF B55 C04 C3C C77 C84 D00 D3B-D3C D81 EBA
    180F 1885-1886 1ABF-1ACE 1B7D-1B7E 1DF6-1DFB 2E43-2E4F 2E52-2E5D A82C A8C5 A8FF A9BD
    10D24-10D27 10EAB-10EAD 10F46-10F50 10F55-10F59 10F82-10F89 11070 11073-11074 110C2 110CD
    111CF 1123E 1133B 11438-1143F 11442-11444 11446 1144B-1144F 1145A-1145B 1145D-1145E 11660-1166C
    116B9 1182F-11837 11839-1183B 1193B-1193C 1193E 11943-11946 119D4-119D7 119DA-119DB 119E0 119E2
    11A01-11A0A 11A33-11A38 11A3B-11A47 11A51-11A56 11A59-11A5B 11A8A-11A96 11A98-11A9C 11A9E-11AA2
    11C30-11C36 11C38-11C3D 11C3F 11C41-11C45 11C70-11C71 11C92-11CA7 11CAA-11CB0 11CB2-11CB3
    11CB5-11CB6 11D31-11D36 11D3A 11D3C-11D3D 11D3F-11D45 11D47 11D90-11D91 11D95 11D97 11EF3-11EF4
    11EF7-11EF8 11FFF 12FF1-12FF2 13430-13438 16E97-16E9A 16F4F 16FE2 16FE4 1CF00-1CF2D 1CF30-1CF46
    1E000-1E006 1E008-1E018 1E01B-1E021 1E023-1E024 1E026-1E02A 1E130-1E136 1E2AE 1E2EC-1E2EF
    1E944-1E94A 1E95E-1E95F
"""
_UNKNOWN = frozenset(
    code
    for item in _UNKNOWN_TO_THE_LIBRARY.split()
    for code in range(int(item.split("-")[0], 16), int(item.split("-")[-1], 16) + 1)
)

_CHANGED = {0x166D: "Po", 0x1734: "Mn", 0x111C9: "Po"}


def _category(code: int) -> str:
    """The character's Unicode category as the library's tables give it."""
    return "Cn" if code in _UNKNOWN else _CHANGED.get(code) or unicodedata.category(chr(code))


@dataclass(frozen=True)
class Pieces:
    ids: list[int]


class _Cleaned(dict[int, str]):
    """str.translate's table for the normaliser's first steps, filled as characters come:
    controls, format and private-use characters (but tab, newline, return), NUL and U+FFFD dropped,
    white space made a space, Chinese spaced apart."""

    def __missing__(self, code: int) -> str:
        c = chr(code)
        if c in "\t\n\r":
            out = " "
        elif c in "\x00\ufffd" or _category(code) in _OTHER:
            out = ""
        elif c in _WHITE_SPACE:
            out = " "
        elif any(low <= code <= high for low, high in _CJK):
            out = f" {c} "
        else:
            out = c
        if len(self) >= CHARS_KEPT:  # a text of many rare characters must not grow the table for good
            self.clear()
        self[code] = out
        return out


class _Lowered(dict[int, str]):
    """After NFD: marks (Mn) dropped, each character lower-cased on its own (no final-sigma rule, as
    the library), and punctuation spaced apart for the pre-tokeniser."""

    def __missing__(self, code: int) -> str:
        c = chr(code)
        category = _category(code)
        if category == "Mn":
            out = ""
        elif (code < 128 and c.isprintable() and not c.isalnum() and c != " ") or category in _PUNCTUATION:
            out = f" {c} "
        else:
            out = c.lower()
        if len(self) >= CHARS_KEPT:  # a text of many rare characters must not grow the table for good
            self.clear()
        self[code] = out
        return out


class WordPiece:
    """`encode(text).ids`, `encode_batch(texts)`, `get_vocab()` and `get_vocab_size()` as the
    `tokenizers` Tokenizer of the same tokenizer.json gives them, with truncation to `max_tokens`."""

    def __init__(self, tokenizer_json: dict[str, Any], max_tokens: int = 512) -> None:
        model = tokenizer_json["model"]
        self._vocab: dict[str, int] = model["vocab"]
        self._unk = self._vocab[model["unk_token"]]
        self._cls, self._sep = self._vocab["[CLS]"], self._vocab["[SEP]"]
        special = {t["content"]: t["id"] for t in tokenizer_json["added_tokens"] if t["special"]}
        self._special = special  # matched in the raw text, before anything is normalised
        self._special_split = re.compile("(" + "|".join(map(re.escape, sorted(special, key=len)[::-1])) + ")")
        self._max = max_tokens
        self._cleaned, self._lowered = _Cleaned(), _Lowered()
        self._words: dict[str, tuple[int, ...]] = {}  # a word's pieces, for the words that come again

    def get_vocab(self) -> dict[str, int]:
        return dict(self._vocab)

    def get_vocab_size(self) -> int:
        return len(self._vocab)

    def encode_batch(self, texts: list[str]) -> list[Pieces]:
        return [self.encode(text) for text in texts]

    def encode(self, text: str) -> Pieces:
        ids: list[int] = []
        room = self._max - 2
        for n, part in enumerate(self._special_split.split(text)):
            if n % 2:
                ids.append(self._special[part])
            else:
                for word in self._words_of(part):
                    ids += self._pieces(word)
                    if len(ids) >= room:
                        break
            if len(ids) >= room:
                break
        return Pieces([self._cls, *ids[:room], self._sep])

    def _words_of(self, text: str) -> list[str]:
        """BertNormalizer (clean, Chinese characters apart, accents stripped, lower case), then
        BertPreTokenizer (split at white space, each punctuation mark a word of its own)."""
        cleaned = text.translate(self._cleaned)
        if not cleaned.isascii():
            cleaned = unicodedata.normalize("NFD", cleaned)
        return cleaned.translate(self._lowered).split()

    def _pieces(self, word: str) -> tuple[int, ...]:
        known = self._words.get(word)
        if known is not None:
            return known
        vocab = self._vocab
        if len(word) > MAX_WORD:
            pieces: tuple[int, ...] = (self._unk,)
        else:
            found: list[int] = []
            start = 0
            while start < len(word):
                end = len(word)
                while end > start:
                    piece = word[start:end] if start == 0 else PREFIX + word[start:end]
                    if (j := vocab.get(piece)) is not None:
                        found.append(j)
                        break
                    end -= 1
                if end == start:
                    found = [self._unk]
                    break
                start = end
            pieces = tuple(found)
        if len(self._words) >= WORDS_KEPT:
            self._words.clear()
        self._words[word] = pieces
        return pieces
