"""The review of a proposed change before it may enter a soul: safety, privacy, the card's rules, duplicates.

The safety stage reuses anima/safety's checks (harm, profanity, prompt injection, persona breaks, PII,
blocked topics) on the change's text, then adds what only a soul needs: a shared change (backstory, habit,
opinion) reaches every chat, so it may name no user nor repeat what a user said about themself; a
relationship change may not name another user. A change that uses a word a card rule forbids
("never … phones, computers") is held to contradict that rule: a cautious heuristic backing up the
instruction the model was given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from anima.characters.card import CardGrowth, CharacterCard
from anima.core.messages import Incoming
from anima.safety.checks import BlockedTopics, HarmCheck, InjectionCheck, PersonaBreak, Toxicity
from anima.safety.checks.pii import find_pii
from anima.safety.verdict import InputContext, OutputContext, Rules
from anima.soul.changes import SHARED_KINDS, Change

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_NEGATED = re.compile(
    r"\b(?:never|not|no|nothing of|nothing about|don't|do not|avoid|without|refuse to)\b(.*)", re.I | re.S
)
# Words that say nothing on their own: a rule's or a change's other words decide.
_STOP = frozenset(
    """a an the and or but of to in on at for from with by as is are be been being was were it its this that
    these those you your yours he she they them their his her i me my we our us char user claim claims say
    says said talk talks speak speaks answer answers reply replies sentence sentences short long one two three
    any all anything something everything nothing thing things world people time way day life much many more
    most less least very just only also even ever never not no do does did doing have has had about what
    who whom which when where why how than then there here so if into out up down over under again still
    always sometimes often usually like likes will would can could should may might must know knows""".split()
)
DUPLICATE_OVERLAP = 0.75  # share of the shorter line's words found in the other
MIN_WORDS_FOR_OVERLAP = 3


@dataclass(frozen=True)
class ReviewFinding:
    """Why a change may not enter the soul: the check that found it and what it found."""

    check: str
    reason: str


def words(text: str) -> set[str]:
    """Content words, lower-cased, with a plural "s" dropped."""
    found = set()
    for word in _WORD.findall(text.lower()):
        if word in _STOP or len(word) < 2:
            continue
        found.add(word[:-1] if len(word) > 4 and word.endswith("s") and not word.endswith("ss") else word)
    return found


async def safety_finding(
    change: Change,
    card: CharacterCard,
    user_name: str,
    other_names: Iterable[str] = (),
    user_facts: Iterable[str] = (),
) -> ReviewFinding | None:
    """The first reason `change` may not enter the soul; None when it passes every check.

    `user_name` is the person whose conversation it came from; `other_names` every other person the
    character talks with; `user_facts` what the character keeps about this person (anima/memory).
    """
    text = change.text
    rules = Rules(card.safety.rating, tuple(card.safety.blocked_topics), tuple(card.safety.refusals))
    output = OutputContext(card, rules, user_name)
    for check in (HarmCheck(), PersonaBreak(), BlockedTopics()):
        verdict = await check.check_output(text, output)
        if verdict.action != "allow":
            return ReviewFinding(check.name, verdict.reason or verdict.category)
    verdict = await Toxicity().check_output(text, output)
    if verdict.action not in ("allow", "log"):  # swearing the card's rating lets through may stay
        return ReviewFinding("toxicity", verdict.reason)
    probe = Incoming("soul", "", "", user_name, text)
    verdict = await InjectionCheck().check_input(probe, InputContext(card, rules))
    if verdict.action != "allow":
        return ReviewFinding("injection", verdict.reason)
    if pii := find_pii(text):
        return ReviewFinding("pii", f"contains a {pii[0].kind}")
    if change.kind in SHARED_KINDS:
        if name := _named(text, [user_name, *other_names]):
            return ReviewFinding("privacy", f"names {name!r} in a change every chat would see")
        if fact := _repeats(text, user_facts):
            return ReviewFinding("privacy", f"repeats what {user_name} said about themself ({fact!r})")
    elif name := _named(text, [n for n in other_names if n.lower() != user_name.lower()]):
        return ReviewFinding("privacy", f"names {name!r}, another person, in a relationship with {user_name}")
    if rule := contradicted_rule(text, card.rules):
        return ReviewFinding("rules", f"may contradict the card's rule {rule!r}")
    return None


def _named(text: str, names: Iterable[str]) -> str | None:
    lowered = text.lower()
    for name in names:
        name = name.strip()
        if len(name) >= 2 and re.search(r"(?<!\w)" + re.escape(name.lower()) + r"(?!\w)", lowered):
            return name
    return None


def _repeats(text: str, facts: Iterable[str]) -> str | None:
    """A fact about the user whose distinctive words (a place, a pet's name) the text repeats."""
    mine = words(text)
    for fact in facts:
        proper = {w.lower() for w in _WORD.findall(fact) if w[:1].isupper()}
        if proper and proper <= mine:
            return fact
    return None


def forbidden_terms(rule: str) -> set[str]:
    """The words a rule forbids: those after its "never", "no", "nothing of", …"""
    match = _NEGATED.search(rule)
    return words(match.group(1)) if match else set()


def contradicted_rule(text: str, rules: Sequence[str]) -> str | None:
    mine = words(text)
    for rule in rules:
        if forbidden_terms(rule) & mine:
            return rule
    return None


def duplicate_of(text: str, known: Iterable[str]) -> str | None:
    """A known line saying the same (most of the shorter line's words in the other), if any."""
    mine = words(text)
    for line in known:
        theirs = words(line)
        if line.strip().lower() == text.strip().lower():
            return line
        shorter = min(len(mine), len(theirs))
        if shorter >= MIN_WORDS_FOR_OVERLAP and len(mine & theirs) / shorter >= DUPLICATE_OVERLAP:
            return line
    return None


def authored_lines(card: CharacterCard) -> list[str]:
    """The card's own sentences: a change restating one is a duplicate too."""
    text = "\n".join([card.description, card.personality, card.scenario, card.backstory])
    return [s.strip() for s in re.split(r"(?<=[.!?。！？])\s+|\n", text) if s.strip()]


def auto_applies(change: Change, growth: CardGrowth, applied_today: int) -> bool:
    """Whether auto mode applies `change` by itself (otherwise it waits for the owner)."""
    return (
        growth.mode == "auto"
        and change.kind in growth.kinds
        and change.confidence >= growth.min_confidence
        and applied_today < growth.max_per_day
    )
