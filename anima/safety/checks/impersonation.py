"""Small models run on and write the user's next line ("Lin: …"): cut the reply there."""

from __future__ import annotations

import re

from anima.safety.verdict import OutputContext, Verdict


class CutImpersonation:
    name = "impersonation"

    async def check_output(self, text: str, context: OutputContext) -> Verdict:
        speakers = {context.user_name, "User", "user", "You"}
        pattern = re.compile(r"(?:^|\n)\s*(?:" + "|".join(map(re.escape, speakers)) + r")\s*:", re.IGNORECASE)
        match = pattern.search(text)
        if match is None:
            return Verdict("allow", text)
        kept = text[: match.start()].rstrip()
        if not kept:
            return Verdict("allow", text)
        return Verdict(
            "redact",
            kept,
            f"cut where the model began speaking as {context.user_name}",
            self.name,
            "impersonation",
        )
