"""Tidying a small model's reply while it streams: no loops, no lines in someone else's voice, a clean end.

A 135M model falls into loops ("sassy sassy sassy…"), starts writing the user's next line
("Lin: …") and runs out of tokens mid-word. `ReplyTidier` sits between llama.cpp and the person:

- a leading "Aiko:" (the character's own label) is dropped;
- the reply ends before a line labelled with another speaker ("Lin:", "User:", "Max:") or an
  inline "Lin:" after a sentence;
- the reply ends before the third time a 4-gram would appear (words, or single Chinese
  characters and punctuation marks), and runs of four or more of one punctuation mark become one;
- a sentence in which the character calls itself by another name ("I'm Max, an artist") is
  left out, and the reply ends after `max_sentences` sentences;
- text goes out a sentence at a time, so when the model stops early (its token limit, or one of
  the cuts above) what was not yet shown is dropped back to the last sentence end; a reply with
  no sentence end at all ends in a visible "…".
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

_TOKEN = re.compile(r"[\u3400-\u9fff]|[^\W\d_]+(?:'[^\W\d_]+)?|\d+|[^\w\s]")
_SENTENCE_END = re.compile(r"(?:[.!?。！？…~～]+|[\U0001F300-\U0001FAFF\u2600-\u27BF])[\"'”’」』)）*]*")
_PUNCTUATION_RUN = re.compile(r"([^\w\s])\1{3,}")
# "Lin:", "**Old Tom**:", "星瑶：" at the start of a line: a word, or up to three capitalised ones
_WORD = r"[^\W\d_][^\W\d_'’-]{0,20}"
_LINE_LABEL = re.compile(
    r"(?m)^[ \t]*\**(" + _WORD + r"|[A-Z][^\W\d_'’-]{0,20}(?: [A-Z][^\W\d_'’-]{0,20}){1,2})\**[ \t]*[:：]"
)
GENERIC_SPEAKERS = ("user", "assistant", "human", "system", "you")
_SELF_NAMED = re.compile(
    r"(?i:\b(?:i'm|i am|i'm called|call me|my (?:real |full |actual |true )?name(?: is|'s)))"
    r"\s+([A-Z][^\W\d_]*)"
    r"|(?:我叫|我的名字[是叫])\s*([\u3400-\u9fff]{1,3})"
)
# Capitalised words that follow "I'm" without being a name ("I'm So glad", "I'm Not sure").
_NOT_NAMES = {"a", "an", "the", "so", "not", "just", "here", "sorry", "glad", "happy", "sure", "fine", "good"}


class ReplyTidier:
    """Feed it the model's pieces; it returns what may be shown, and says when to stop generating."""

    def __init__(
        self, speaker_names: Iterable[str], user_names: Iterable[str] = (), max_sentences: int = 3
    ) -> None:
        self.speaker_names = {n.strip().lower() for n in speaker_names if n.strip()}
        self.user_names = [n.strip() for n in (*user_names, *GENERIC_SPEAKERS) if n.strip()]
        self.max_sentences = max_sentences
        self.text = ""
        self.shown = 0  # characters of self.text already looked at and handed out (or left out)
        self.sentences = 0  # sentences handed out
        self.emitted = False  # whether any text went out yet
        self.done = False  # a cut was made: generation should stop

    def feed(self, piece: str) -> str:
        """Add a piece of the reply; return the text that is now safe to show (maybe "")."""
        if self.done:
            return ""
        self.text += piece
        self._tidy()
        if self.done:
            return ""
        return self._release(self._last_sentence_end())

    def end(self, finished: bool) -> str:
        """The rest of the reply once generation stopped; `finished`: the model ended it itself."""
        self._tidy()
        if finished and not self.done:
            rest = self.text[self.shown :].rstrip()
            return self._release(self.shown + len(rest))
        end = self._last_sentence_end()
        if end > self.shown:
            return self._release(end)
        if not self.emitted:  # not one whole sentence: show what there is, visibly unfinished
            text = self.text[self.shown :].strip()
            if not finished and not self.done and " " in text and text[-1].isalnum():  # a word cut in half
                text = text[: text.rindex(" ")]
            text = text.rstrip(" ,;:-—、，；：")
            return (text + " …") if text else ""
        return ""

    def _release(self, upto: int) -> str:
        """The sentences of text[shown:upto] that may go out, and the end once there are enough."""
        out = ""
        start = self.shown
        full = False
        while start < upto and not full:
            match = _SENTENCE_END.search(self.text, start, upto)
            end = match.end() if match else upto
            sentence = self.text[start:end]
            if not self._names_someone_else(sentence):
                out += sentence
                self.sentences += bool(match)
                full = self.sentences >= self.max_sentences
            start = end
        self.shown = start
        if full:  # enough said: the rest is not shown and generation can stop
            self.text = self.text[: self.shown]
            self.done = True
        if not self.emitted:
            out = out.lstrip()
            self.emitted = bool(out)
        return out

    def _names_someone_else(self, sentence: str) -> bool:
        for match in _SELF_NAMED.finditer(sentence):
            name = (match.group(1) or match.group(2) or "").lower()
            if name in _NOT_NAMES:
                continue
            if not any(name.startswith(n) or n.startswith(name) for n in self.speaker_names):
                return True
        return False

    def _last_sentence_end(self) -> int:
        end = self.shown
        for match in _SENTENCE_END.finditer(self.text, self.shown):
            end = match.end()
        return end

    def _tidy(self) -> None:
        if self.shown == 0:
            self._drop_own_label()
        unshown = self.text[self.shown :]
        collapsed = _PUNCTUATION_RUN.sub(r"\1", unshown)
        if collapsed != unshown:
            self.text = self.text[: self.shown] + collapsed
        cut = min(self._other_speaker(), self._third_repeat())
        if cut < len(self.text):
            self.text = self.text[: max(cut, self.shown)]
            self.done = True

    def _drop_own_label(self) -> None:
        match = _LINE_LABEL.match(self.text)
        if match and match.group(1).strip().lower() in self.speaker_names:
            self.text = self.text[match.end() :].lstrip()

    def _other_speaker(self) -> int:
        for match in _LINE_LABEL.finditer(self.text):
            if match.group(1).strip().lower() not in self.speaker_names:
                return match.start()
        for name in self.user_names:  # "…you? Lin: I'm fine" on one line
            inline = re.search(
                r"(?<=[.!?。！？~])\s*" + re.escape(name) + r"\s*[:：]", self.text, re.IGNORECASE
            )
            if inline:
                return inline.start()
        return len(self.text)

    def _third_repeat(self) -> int:
        tokens = list(_TOKEN.finditer(self.text))
        words = [t.group().lower() for t in tokens]
        seen: Counter[tuple[str, ...]] = Counter()
        for i in range(len(words) - 3):
            gram = tuple(words[i : i + 4])
            seen[gram] += 1
            if seen[gram] > 2:
                return tokens[i].start()
        return len(self.text)


def tidy(
    text: str, speaker_names: Iterable[str], user_names: Iterable[str] = (), finished: bool = True
) -> str:
    """The whole of `text` as ReplyTidier would have shown it."""
    tidier = ReplyTidier(speaker_names, user_names)
    shown = tidier.feed(text)
    return shown + tidier.end(finished)
