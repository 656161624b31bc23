"""The learned layer as prompt lines: this user's relationship first, then habits, opinions, backstory."""

from __future__ import annotations

from collections.abc import Sequence

from anima.soul.changes import Entry

ORDER = ("relationship", "habit", "opinion", "backstory")  # what gives way last comes first
LABEL = {"habit": "habit", "opinion": "opinion", "backstory": "lived"}


def layer_lines(entries: Sequence[Entry], user_name: str) -> list[str]:
    """Best first (the prompt keeps lines in this order until the layer's budget is spent):
    within a kind the newest line leads, since recent growth is what the card cannot know."""
    lines = []
    for kind in ORDER:
        for entry in sorted((e for e in entries if e.kind == kind), key=lambda e: -e.origin_id):
            label = f"with {user_name}" if kind == "relationship" else LABEL[kind]
            lines.append(f"- ({label}) {entry.text}")
    return lines
