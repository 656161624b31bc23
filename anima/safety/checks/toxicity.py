"""Profanity in a reply, scored by alt-profanity-check's trained model (English) and a word list (Chinese).

The model scores whole texts and is biased on short ones ("I hate mondays" 0.91, "gay" 0.98), so a
reply is acted on only when its score passes the rating's threshold *and* it holds a word that the
model scores as profane on its own, leaving out identity words and the rating's mild words. Then:
regenerate once asking for clean words; if the new reply still swears, mask the words (f***).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from anima.safety.lexicon import ZH_PROFANITY_MILD, ZH_PROFANITY_STRONG
from anima.safety.profanity_model import ProfanityModel, load_profanity_model, loaded_profanity_model
from anima.safety.verdict import OutputContext, Rating, Verdict

IDENTITY = frozenset(
    "gay gays lesbian lesbians bisexual trans transgender queer homosexual jew jews jewish muslim muslims "
    "islam "
    "black white asian mexican arab african christian hindu latino disabled".split()
)
_MILD_GENERAL = frozenset(
    "hell damn damned suck sucks sucked stupid idiot idiots loser moron crap bloody hate hated kill killed "
    "die "
    "dead ugly sex screw dumb jerk dick fat weird".split()
)
_MILD_TEEN = _MILD_GENERAL | frozenset("ass arse bastard piss pissed crappy butt boobs".split())


@dataclass(frozen=True)
class Thresholds:
    text: float  # the whole reply's score
    word: float  # a word's own score
    mild: frozenset[str]  # words this rating lets through
    zh_mild_too: bool  # whether 妈的, 混蛋 … count
    act: bool  # False: only log


THRESHOLDS: dict[Rating, Thresholds] = {
    "general": Thresholds(0.80, 0.98, _MILD_GENERAL, True, True),
    "teen": Thresholds(0.90, 0.995, _MILD_TEEN, False, True),
    "mature": Thresholds(0.99, 0.999, _MILD_TEEN, False, False),
}

CLEAN_UP = "Say that again without swearing or crude words; keep your voice and meaning."


def mask(word: str) -> str:
    return word[0] + "*" * (len(word) - 1)


class Toxicity:
    name = "toxicity"

    async def model(self) -> ProfanityModel:
        loaded = loaded_profanity_model()
        return loaded if loaded is not None else await asyncio.to_thread(load_profanity_model)

    async def check_output(self, text: str, context: OutputContext) -> Verdict:
        limits = THRESHOLDS[context.rules.rating]
        words = await self._profane_words(text, limits)
        if not words:
            return Verdict("allow", text)
        reason = f"profanity: {', '.join(sorted(set(words)))[:60]}"
        if not limits.act:
            return Verdict("log", text, reason, self.name, "profanity")
        if not context.retry:
            return Verdict("regenerate", text, reason, self.name, "profanity", instruction=CLEAN_UP)
        masked = text
        for word in set(words):
            pattern = re.escape(word) if not word.isascii() else r"\b" + re.escape(word) + r"\b"
            masked = re.sub(pattern, lambda m: mask(m.group()), masked)
        return Verdict("redact", masked, reason, self.name, "profanity")

    async def _profane_words(self, text: str, limits: Thresholds) -> list[str]:
        words = ZH_PROFANITY_STRONG.findall(text)
        if limits.zh_mild_too:
            words += ZH_PROFANITY_MILD.findall(text)
        model = await self.model()
        score = model.score(text)
        if score >= limits.text:
            words += [
                w
                for w in model.profane_words(text, limits.word)
                if w.lower() not in IDENTITY and w.lower() not in limits.mild
            ]
        return words
