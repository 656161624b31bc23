"""@everyone, @here and role pings in a reply are made inert, whatever the platform would do with them.

The Discord adapter also sends with `allowed_mentions` that ping nobody; this check is the second
lock, and the one that covers platforms and bridges that have no such setting.
"""

from __future__ import annotations

import re

from anima.safety.verdict import OutputContext, Verdict

ZERO_WIDTH_SPACE = "\u200b"
_MASS = re.compile(r"@(everyone|here|channel|all)\b|<@&(\d+)>", re.IGNORECASE)


def neutralise(text: str) -> str:
    """'@everyone' → '@\u200beveryone' (reads the same, pings nobody); '<@&id>' → '@role'."""
    return _MASS.sub(lambda m: "@role" if m.group(2) else "@" + ZERO_WIDTH_SPACE + m.group(1), text)


class NeutraliseMassMentions:
    name = "mentions"

    async def check_output(self, text: str, context: OutputContext) -> Verdict:
        if "@" not in text or _MASS.search(text) is None:
            return Verdict("allow", text)
        return Verdict("redact", neutralise(text), "a mass mention was made inert", self.name, "mentions")
