"""What a check decides, what it is told about the turn, and the two shapes a check can have."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from anima.characters.card import CharacterCard
from anima.core.messages import Incoming

# allow: nothing to do. log: go on, but record it (and, on input, add `instruction` to the prompt).
# redact: go on with the changed text. regenerate: ask the model once more with `instruction`.
# replace: answer with `text` instead (an in-character refusal, help resources). drop: no answer.
SafetyAction = Literal["allow", "log", "redact", "regenerate", "replace", "drop"]
Rating = Literal["general", "teen", "mature"]
RATINGS: tuple[Rating, ...] = ("general", "teen", "mature")  # strictest first


@dataclass(frozen=True)
class Verdict:
    """What a check decided. `text` is the (possibly changed) text to go on with."""

    action: SafetyAction
    text: str
    reason: str = ""
    check: str = ""
    category: str = ""  # harassment, hate, sexual_minors, self_harm, violence, pii, leak, persona, …
    score: float = 1.0
    instruction: str = ""  # for the model: the corrective line of a regenerate, an input's guard
    notice: str = ""  # for the person, shown under the reply


@dataclass(frozen=True)
class Rules:
    """The safety rules in force for one conversation: the card's, tightened by the chat's admins."""

    rating: Rating = "general"
    blocked_topics: tuple[str, ...] = ()
    refusals: tuple[str, ...] = ()


@dataclass(frozen=True)
class InputContext:
    card: CharacterCard
    rules: Rules


@dataclass(frozen=True)
class OutputContext:
    """What an output check may compare the reply with."""

    card: CharacterCard
    rules: Rules
    user_name: str
    user_texts: Sequence[str] = ()  # what this user wrote in this conversation: their own data may come back
    canary: str = ""
    retry: bool = False  # the reply is already a regeneration: no second one, fall back instead
    language: str = "en"


class InputCheck(Protocol):
    name: str

    async def check_input(self, message: Incoming, context: InputContext) -> Verdict: ...


class OutputCheck(Protocol):
    name: str

    async def check_output(self, text: str, context: OutputContext) -> Verdict: ...


def allow(text: str) -> Verdict:
    return Verdict("allow", text)
