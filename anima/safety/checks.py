"""The check protocol, the policy that runs checks in order, and the first output check."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from anima.characters.card import CharacterCard
from anima.core.messages import Incoming


@dataclass(frozen=True)
class Verdict:
    """What a check decided. `text` is the (possibly changed) text to go on with."""

    action: Literal["allow", "redact", "replace"]
    text: str
    reason: str = ""


class InputCheck(Protocol):
    async def check_input(self, message: Incoming, card: CharacterCard) -> Verdict: ...


class OutputCheck(Protocol):
    async def check_output(self, text: str, card: CharacterCard, user_name: str) -> Verdict: ...


class CutImpersonation:
    """Small models run on and write the user's next line ("Lin: …"); cut the reply there."""

    async def check_output(self, text: str, card: CharacterCard, user_name: str) -> Verdict:
        speakers = {user_name, "User", "user", "You"}
        pattern = re.compile(r"(?:^|\n)\s*(?:" + "|".join(map(re.escape, speakers)) + r")\s*:", re.IGNORECASE)
        match = pattern.search(text)
        if match is None:
            return Verdict("allow", text)
        kept = text[: match.start()].rstrip()
        if not kept:
            return Verdict("allow", text)
        return Verdict("redact", kept, f"cut where the model began speaking as {user_name}")


@dataclass
class SafetyPolicy:
    """Runs input checks before anything is stored or generated, output checks before delivery."""

    input_checks: Sequence[InputCheck] = ()
    output_checks: Sequence[OutputCheck] = field(default_factory=lambda: [CutImpersonation()])

    async def check_input(self, message: Incoming, card: CharacterCard) -> Verdict:
        verdict = Verdict("allow", message.text)
        for check in self.input_checks:
            step = await check.check_input(replace(message, text=verdict.text), card)
            if step.action == "replace":
                return step
            if step.action == "redact":
                verdict = step
        return verdict

    async def check_output(self, text: str, card: CharacterCard, user_name: str) -> Verdict:
        verdict = Verdict("allow", text)
        for check in self.output_checks:
            step = await check.check_output(verdict.text, card, user_name)
            if step.action == "replace":
                return step
            if step.action == "redact":
                verdict = step
        return verdict
