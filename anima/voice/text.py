"""Text for speech: what a reply says out loud, split into sentences and into one language per segment.

Markdown, links, URLs and emoji go; stage directions (`*smiles*`, `(laughs)`, `[sighs]`) become
pauses; mixed Chinese/English text becomes alternating zh/en segments, so each is read by a voice
that knows its language. The text is cut to a bound before anything reads it, and every pattern here
runs in time linear in its input (each is anchored, or stops where the next try would start), so no
text costs more than a few milliseconds.
"""

from __future__ import annotations

import re
import unicodedata

from anima.voice.engine import Segment

SENTENCE_PAUSE_S = 0.25  # between sentences that change language (within one language the engine paces)
DIRECTION_PAUSE_S = 0.5  # where a stage direction was

_PAUSE = "\ue000"  # a private-use character marking a stage direction until the text is segmented

_CODE_BLOCK = re.compile(r"```.*?(?:```|$)", re.S)
RAW_CHARS_PER_SPOKEN = 4  # markup, links and URLs that are not spoken: room for them before the cut
# Brackets exclude their own opening mark, so a scan that fails stops where the next try begins.
_IMAGE = re.compile(r"!\[[^\[\]]*\]\([^()]*\)")
_LINK = re.compile(r"\[([^\[\]]+)\]\([^()]*\)")
_URL = re.compile(r"\b(?:https?://|www\.)\S*+", re.I)
_URL_END = ".,;:!?)]」』。，；：！？"  # a URL ends before the full stop or comma that follows it
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]++@[\w-]++(?:\.[\w-]++)+")
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>\n]*>")
_INLINE_CODE = re.compile(r"`([^`\n]*)`")
_STRONG = re.compile(r"(\*\*|__)(.+?)\1", re.S)
_STRIKE = re.compile(r"~~(.+?)~~", re.S)
_ACTION = re.compile(r"\*([^*\n]+)\*")  # roleplay: *smiles* is an action, not emphasis
_UNDERSCORE_EMPHASIS = re.compile(r"(?<!\w)_([^_\n]+)_(?!\w)")
# Short asides in brackets are stage directions: (laughs), （笑）, [sighs]. Longer ones are read.
_DIRECTION = re.compile(r"[(（\[【]\s*([^()（）\[\]【】\n]{1,40}?)\s*[)）\]】]")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]*", re.M)
_LIST_MARK = re.compile(r"^[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t]+", re.M)
_QUOTE_MARK = re.compile(r"^[ \t]*>[ \t]?", re.M)
_RULE = re.compile(r"^[ \t]*(?:[-*_][ \t]*){3,}$", re.M)
_TABLE_PIPE = re.compile(r"(?<![ \t])[ \t]*\|[ \t]*")
_STRAY_MARKS = re.compile(r"[*_~#^=<>\\{}]+")
_SPACES = re.compile(r"[ \t\u3000]+")
_PAUSES = re.compile(rf"(?<!\s)\s*(?:{_PAUSE}\s*)+")

# Emoji and their glue: variation selectors, zero-width joiner, keycap, skin tones (category Sk).
_DROP_CATEGORIES = {"So", "Sk", "Cn", "Cs"}
_DROP_CHARS = {"\u200d", "\u20e3", "\ufe0e", "\ufe0f"}

# A sentence ends at . ! ? … (followed by a space or the end), at 。！？ and at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)」』]*\s+|(?<=[。！？])[”’」』]*|\n+")

_CJK_LANGUAGES = {"zh", "ja", "ko", "yue"}
_END_MARKS = set(".!?…,;:—-。！？，；：、")
_CJK_MARKS_TO_ASCII = str.maketrans({"。": ".", "、": ",", "「": '"', "」": '"', "『": '"', "』": '"'})


def clean(text: str) -> str:
    """The words of a reply as they should be spoken; stage directions left as pause marks."""
    text = text.replace(_PAUSE, " ")
    text = _CODE_BLOCK.sub(" ", text)
    text = _IMAGE.sub(" ", text)
    text = _LINK.sub(r"\1", text)
    text = _URL.sub(_drop_url, text)
    text = _EMAIL.sub(" ", text)
    text = _HTML_TAG.sub(" ", text)
    text = _INLINE_CODE.sub(r"\1", text)
    text = _RULE.sub("\n", text)
    text = _HEADING.sub("", text)
    text = _LIST_MARK.sub("", text)
    text = _QUOTE_MARK.sub("", text)
    text = _STRONG.sub(r"\2", text)
    text = _STRIKE.sub(r"\1", text)
    text = _ACTION.sub(_PAUSE, text)
    text = _UNDERSCORE_EMPHASIS.sub(r"\1", text)
    text = _DIRECTION.sub(_PAUSE, text)
    text = _TABLE_PIPE.sub(", ", text)
    text = "".join(
        ch for ch in text if ch not in _DROP_CHARS and unicodedata.category(ch) not in _DROP_CATEGORIES
    )
    text = _STRAY_MARKS.sub(" ", text)
    text = _SPACES.sub(" ", text)
    text = _PAUSES.sub(_PAUSE, text)
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def _drop_url(match: re.Match[str]) -> str:
    """The URL goes; the punctuation after it stays."""
    url = match.group()
    kept = url.rstrip(_URL_END)
    return " " + url[len(kept) :]


def raw_limit(max_chars: int) -> int:
    """How much raw text is read to speak at most `max_chars`: the rest is cut before any work."""
    return max_chars * RAW_CHARS_PER_SPOKEN


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def base_language(code: str) -> str:
    """'zh-CN' → 'zh', 'cmn' → 'zh', 'en_US' → 'en'."""
    base = code.replace("_", "-").split("-")[0].lower()
    return {"cmn": "zh", "zho": "zh", "chi": "zh", "eng": "en", "jpn": "ja", "kor": "ko"}.get(base, base)


def _script_language(ch: str, main: str) -> str | None:
    """The language a character's script implies, or None for digits, spaces and punctuation."""
    code = ord(ch)
    if 0x3040 <= code <= 0x30FF:
        return "ja"
    if 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F:
        return "ko"
    if 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2FFFF:
        return main if main in ("ja", "yue") else "zh"
    if ch.isalpha():
        return main if main not in _CJK_LANGUAGES else "en"
    return None


def language_runs(sentence: str, main: str) -> list[tuple[str, str]]:
    """Split a sentence where its script changes: '我喜欢 jazz 音乐' → zh, en, zh."""
    runs: list[tuple[str, list[str]]] = []
    pending: list[str] = []  # digits and punctuation before the first letter join the first run
    for ch in sentence:
        language = _script_language(ch, main)
        if language is None or (runs and runs[-1][0] == language):
            (runs[-1][1] if runs else pending).append(ch)
        else:
            runs.append((language, [*pending, ch]))
            pending = []
    if pending:
        runs.append((main, pending)) if not runs else runs[-1][1].extend(pending)
    return [(lang, "".join(chars).strip()) for lang, chars in runs if "".join(chars).strip()]


def script(text: str, language: str, max_chars: int = 1500) -> list[Segment]:
    """The reply as segments to speak: one language each, pauses where sentences or directions end.

    Text beyond `max_chars` is dropped at a sentence end, so a runaway reply makes a bounded note.
    """
    main = base_language(language)
    text = text[: raw_limit(max_chars)]
    pieces: list[tuple[str, str, float]] = []  # (text, language, pause after)
    spoken = 0
    for part in re.split(f"({_PAUSE})", clean(text)):
        if part == _PAUSE:
            if pieces:
                t, lang, _ = pieces[-1]
                pieces[-1] = (t, lang, DIRECTION_PAUSE_S)
            continue
        for sentence in sentences(part):
            spoken += len(sentence) + 1  # and the space that joins it
            if spoken > max_chars and pieces:
                return _merge(pieces)
            runs = language_runs(sentence[:max_chars], main)
            for i, (lang, run) in enumerate(runs):
                last = i == len(runs) - 1
                pieces.append((_punctuate(run, lang, last), lang, SENTENCE_PAUSE_S if last else 0.0))
    return _merge(pieces)


def _punctuate(run: str, language: str, sentence_end: bool) -> str:
    """Full-width marks become ASCII outside CJK; a sentence cut by a line break gets its full stop."""
    if language not in _CJK_LANGUAGES:
        run = unicodedata.normalize("NFKC", run).translate(_CJK_MARKS_TO_ASCII)
    if sentence_end and run[-1] not in _END_MARKS:
        run += "。" if language in _CJK_LANGUAGES else "."
    return run


def _merge(pieces: list[tuple[str, str, float]]) -> list[Segment]:
    """Join neighbours in one language (the engine paces its own sentences) unless a direction parts them."""
    segments: list[Segment] = []
    for text, lang, pause in pieces:
        last = segments[-1] if segments else None
        if last and last.language == lang and last.pause_after_s < DIRECTION_PAUSE_S:
            segments[-1] = Segment(f"{last.text} {text}", lang, pause)
        else:
            segments.append(Segment(text, lang, pause))
    return segments
