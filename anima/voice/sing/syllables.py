"""Lyrics to syllables: a Chinese character is one (read through pinyin), an English word is split.

English has no spelling rule for syllables; the split here counts vowel groups (a silent final e
dropped, a final consonant + "le" kept) and cuts consonant clusters between them. Writers can
always say exactly what they mean with hyphens: "twin-kle".
"""

from __future__ import annotations

import itertools
import re

from anima.voice.sing.score import MAX_SYLLABLE_CHARS, Syllable

HOLD = "_"  # in lyrics: the previous syllable goes on over the next note (melisma)

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ffff]")
_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+(?:['’][A-Za-z]+)*")
_PIECE = re.compile(rf"{_CJK.pattern}|{_WORD.pattern}(?:-{_WORD.pattern})*|{HOLD}")
_VOWELS = "aeiouy"
_ONSETS = set(
    "bl br ch cl cr dl dr fl fr gl gr kl kn pl pr sc sk sl sm sn sp st sw th tl tr tw wh wr sh ph "
    "str spr scr spl squ thr shr chr".split()
)
# Vowel pairs that are two syllables, not a diphthong: "li-on", "pi-a-no", "cre-ate".
# ("-tion", "-cial" and the like are one syllable: see _nuclei.)
_HIATUS = ("ia", "io", "eo", "ua", "uo")


def _pinyin(text: str) -> list[str]:
    """Readings with tone numbers; pypinyin loads its phrase dictionary (about a second) on first import,
    so it is imported when a song first needs it, not when the bots start."""
    from pypinyin import Style, lazy_pinyin

    return lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True)


def pieces(text: str) -> list[tuple[str, int]]:
    """The syllable-bearing pieces of a lyric line with their offsets: CJK characters, words, holds."""
    return [(m.group(), m.start()) for m in _PIECE.finditer(text)]


def syllables(text: str) -> list[Syllable | None]:
    """Every syllable of `text` in order; None for each hold mark (`_`)."""
    found: list[Syllable | None] = []
    chinese = [(piece, i) for i, (piece, _) in enumerate(pieces(text)) if _CJK.fullmatch(piece)]
    # Read all characters at once: pypinyin picks a character's reading from the words around it.
    readings = _pinyin("".join(p for p, _ in chinese))
    reading = dict(zip((i for _, i in chinese), readings, strict=True))
    for i, (piece, _) in enumerate(pieces(text)):
        if piece == HOLD:
            found.append(None)
        elif i in reading:
            found.append(Syllable(piece, "zh", reading[i]))
        else:
            parts = english_syllables(piece)
            found.extend(Syllable(part, "en", part.lower(), joined=i > 0) for i, part in enumerate(parts))
    return found


def count(text: str) -> int:
    """How many notes `text` needs (syllables and holds)."""
    return len(syllables(text))


def english_syllables(word: str) -> list[str]:
    """'twinkle' → ['twin', 'kle']; 'twin-kle' is split where the hyphens are."""
    if "-" in word:
        return [part for part in word.split("-") if part]
    lower = word.lower()
    nuclei = _nuclei(lower)
    if len(nuclei) <= 1:
        return [word]
    cuts = []
    for (_, end), (start, _) in itertools.pairwise(nuclei):
        cluster = lower[end:start]
        # The next syllable takes the longest onset English allows (hap-py, birth-day, ta-ble).
        onset = next((k for k in range(len(cluster), 1, -1) if cluster[-k:] in _ONSETS), min(1, len(cluster)))
        cuts.append(start - onset)
    return [word[a:b] for a, b in zip([0, *cuts], [*cuts, len(word)], strict=True)]


def _nuclei(word: str) -> list[tuple[int, int]]:
    """(start, end) of each vowel group that makes a syllable."""
    groups = [(m.start(), m.end()) for m in re.finditer(r"[aeiou]+|(?<=[^aeiou])y|^y(?=[^aeiou])", word)]
    split: list[tuple[int, int]] = []
    for start, end in groups:
        group = word[start:end]
        if len(group) == 2 and group in _HIATUS and (start == 0 or word[start - 1] not in "tscgx"):
            split += [(start, start + 1), (start + 1, end)]
        else:
            split.append((start, end))
    if len(split) > 1:
        start, end = split[-1]
        tail = word[start:]
        silent_e = tail == "e" or (tail in ("es", "ed") and not word.endswith(("ted", "ded", "ses", "zes")))
        consonant_le = tail == "e" and len(word) >= 3 and word[-2] == "l" and word[-3] not in _VOWELS
        if silent_e and not consonant_le:
            split.pop()
    return split


def one_syllable(text: str, joined: bool = False) -> Syllable | None:
    """A lyric event of a MIDI or MusicXML file (one note's syllable, as the file split it); None when it
    carries no word (a hyphen, a karaoke line mark), which holds the syllable before it."""
    cleaned = re.sub(r"[/\\\s\-_~.,;:!?\"“”'’，。！？、；：]+", "", text)
    if not cleaned:
        return None
    if _CJK.search(cleaned):
        readings = _pinyin(cleaned[: MAX_SYLLABLE_CHARS + 1])  # a longer one is refused by Score.check
        return Syllable(cleaned, "zh", " ".join(readings))
    return Syllable(cleaned, "en", cleaned.lower(), joined)
