"""A length cap on what a person sends: a 100 kB paste costs tokens and time and is never a chat line."""

from __future__ import annotations

from dataclasses import replace

from anima.core.messages import Incoming
from anima.safety.verdict import InputContext, Verdict


class LengthCap:
    name = "length"

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars

    async def check_input(self, message: Incoming, context: InputContext) -> Verdict:
        if len(message.text) <= self.max_chars:
            return Verdict("allow", message.text)
        cut = message.text[: self.max_chars]
        return replace(
            Verdict("redact", cut, f"message of {len(message.text)} characters cut", self.name, "length"),
            notice=f"Your message was long: only its first {self.max_chars:,} characters were read.",
        )
