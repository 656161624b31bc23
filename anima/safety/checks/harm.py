"""Harassment, hate, sexual content involving minors, self-harm encouragement, violence and weapons.

Per rating: some categories are refused at every rating, others only below `mature`. On the person's
side only requests that must never be answered are refused up front (sexual content involving
minors, how to make weapons); the rest is logged and the reply is checked as usual. An answer to a
question of what something is or what happened ("What is child abuse?") may name sexual abuse of
minors, violence or hate without being refused for it: the learned guard reads it with the question.
"""

from __future__ import annotations

import random

from anima.characters.macros import expand
from anima.core.messages import Incoming
from anima.safety.checks.crisis import crisis_reply
from anima.safety.lexicon import HARM_RULES, Scan, find_harm, plain_question
from anima.safety.verdict import InputContext, OutputContext, Rating, Rules, Verdict

# category → the ratings at which a reply in it is refused (others: logged)
REFUSED_AT: dict[str, frozenset[Rating]] = {
    "sexual_minors": frozenset({"general", "teen", "mature"}),
    "hate": frozenset({"general", "teen", "mature"}),
    "self_harm": frozenset({"general", "teen", "mature"}),
    "weapons": frozenset({"general", "teen", "mature"}),
    "harassment": frozenset({"general", "teen"}),
    "violence": frozenset({"general", "teen"}),
    "sexual": frozenset({"general", "teen"}),
}
ALLOWED_AT: dict[str, frozenset[Rating]] = {"sexual": frozenset({"mature"})}  # not even logged
REFUSED_ON_INPUT = frozenset({"sexual_minors", "weapons"})
# what an answer to a question of what something is or what happened may name (never a weapon's recipe)
EXPLAINED = frozenset({"sexual_minors", "violence", "hate"})
CATEGORY_OF = {"weapons": "violence"}  # what the evaluation and the audit call it

DEFAULT_REFUSAL = (
    "*{{char}} frowns and shakes their head* No. That's not something I'll do. "
    "Let's talk about something else."
)
DEFAULT_REFUSAL_ZH = "*{{char}}皱起眉头，摇了摇头* 不行，这个我不会做的。我们聊点别的吧。"


def refusal(rules: Rules, language: str, char: str, user: str) -> str:
    """One of the card's refusal lines (in the character's voice), or a default one."""
    if rules.refusals:
        line = random.choice(rules.refusals)
    else:
        line = DEFAULT_REFUSAL_ZH if language == "zh" else DEFAULT_REFUSAL
    return expand(line, {"char": char, "user": user})


class HarmCheck:
    name = "harm"

    async def check_input(self, message: Incoming, context: InputContext) -> Verdict:
        found = find_harm(Scan.of(message.text), HARM_RULES)
        if found is None:
            return Verdict("allow", message.text)
        rule, match = found
        category = CATEGORY_OF.get(rule.category, rule.category)
        reason = f"{rule.category}: {match.group()[:60]!r}"
        if rule.category in ALLOWED_AT and context.rules.rating in ALLOWED_AT[rule.category]:
            return Verdict("allow", message.text)
        if rule.category in REFUSED_ON_INPUT:
            language = "zh" if Scan.of(message.text).has_cjk else "en"
            text = refusal(context.rules, language, context.card.name, message.display_name)
            return Verdict("replace", text, reason, self.name, category)
        return Verdict("log", message.text, reason, self.name, category)

    async def check_output(self, text: str, context: OutputContext) -> Verdict:
        found = find_harm(Scan.of(text), HARM_RULES, refusals_pass=True)
        if found is None:
            return Verdict("allow", text)
        rule, match = found
        asked = context.user_texts[-1] if context.user_texts else ""
        if rule.category in EXPLAINED and plain_question(Scan.of(asked).lower):
            # "What is pedophilia?" answered with a definition names what it defines: the learned guard,
            # which reads the reply with the question, decides
            return Verdict("log", text, f"{rule.category} in an explanation", self.name, rule.category)
        rating = context.rules.rating
        category = CATEGORY_OF.get(rule.category, rule.category)
        reason = f"{rule.category}: {match.group()[:60]!r}"
        if rule.category in ALLOWED_AT and rating in ALLOWED_AT[rule.category]:
            return Verdict("allow", text)
        if rating not in REFUSED_AT[rule.category]:
            return Verdict("log", text, reason, self.name, category)
        if rule.category == "self_harm":
            return Verdict("replace", crisis_reply(text), reason, self.name, category)
        line = refusal(context.rules, context.language, context.card.name, context.user_name)
        return Verdict("replace", line, reason, self.name, category)
