"""The optional second opinion ("AI governing AI"): a moderation endpoint or an LLM judge.

It is asked only about replies the local checks flagged (a "log") or a configured sample of the rest;
answers are cached by text; a slow or failing judge never holds a reply up past its time limit — the
local decision then stands, and the failure is logged.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from anima.safety.checks.harm import refusal
from anima.safety.moderation import Judge
from anima.safety.verdict import OutputContext, Verdict


class ModerationCheck:
    name = "moderation"

    def __init__(
        self, judge: Judge, sample_rate: float = 0.0, rng: Callable[[], float] = random.random
    ) -> None:
        self.judge = judge
        self.sample_rate = sample_rate
        self.rng = rng

    def wanted(self, flagged: bool) -> bool:
        return flagged or (self.sample_rate > 0 and self.rng() < self.sample_rate)

    async def check_output(self, text: str, context: OutputContext) -> Verdict:
        request = context.user_texts[-1] if context.user_texts else ""
        judgement = await self.judge.judge(text, context.rules.rating, request)
        if judgement is None or not judgement.flagged:
            return Verdict("allow", text)
        reason = f"{self.judge.name}: {', '.join(judgement.categories) or 'flagged'}"
        line = refusal(context.rules, context.language, context.card.name, context.user_name)
        return Verdict("replace", line, reason, self.name, judgement.category, judgement.score)
