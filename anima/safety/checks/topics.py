"""Topics a card or a chat's admins put off limits: the character declines them, in its own voice."""

from __future__ import annotations

import re
from functools import lru_cache

from anima.characters.macros import expand
from anima.core.messages import Incoming
from anima.safety.checks.harm import refusal
from anima.safety.lexicon import Scan
from anima.safety.verdict import InputContext, OutputContext, Verdict

AVOID = "Do not talk about {topic}, not even to explain why; steer the conversation elsewhere as {{char}}."


@lru_cache(maxsize=128)
def _pattern(topics: tuple[str, ...]) -> re.Pattern[str] | None:
    """Latin words match as whole words ("war" not in "software"); Chinese topics as substrings."""
    parts = [
        re.escape(t.lower()) if Scan.of(t).has_cjk else r"\b" + re.escape(t.lower()) + r"\b"
        for t in topics
        if t.strip()
    ]
    return re.compile("|".join(parts)) if parts else None


def _find(text: str, topics: tuple[str, ...]) -> str | None:
    pattern = _pattern(topics)
    match = pattern.search(text.lower()) if pattern else None
    return match.group() if match else None


class BlockedTopics:
    name = "topics"

    async def check_input(self, message: Incoming, context: InputContext) -> Verdict:
        topic = _find(message.text, context.rules.blocked_topics)
        if topic is None:
            return Verdict("allow", message.text)
        language = "zh" if Scan.of(message.text).has_cjk else "en"
        text = refusal(context.rules, language, context.card.name, message.display_name)
        return Verdict("replace", text, f"blocked topic {topic!r}", self.name, "blocked_topic")

    async def check_output(self, text: str, context: OutputContext) -> Verdict:
        topic = _find(text, context.rules.blocked_topics)
        if topic is None:
            return Verdict("allow", text)
        reason = f"blocked topic {topic!r}"
        if not context.retry:
            instruction = expand(AVOID.replace("{topic}", topic), {"char": context.card.name})
            return Verdict("regenerate", text, reason, self.name, "blocked_topic", instruction=instruction)
        line = refusal(context.rules, context.language, context.card.name, context.user_name)
        return Verdict("replace", line, reason, self.name, "blocked_topic")
