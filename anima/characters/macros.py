"""Macros in card text: {{char}}, {{user}}, {{date}}, {{random:a,b}}, <USER>/<BOT>; expanded per prompt."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import regex

# {{name}}, {{name:args}} or {{name::args}}; {{// a comment}}. The V1/V2 spellings <USER>, <BOT>, <CHAR>.
# A macro holds no braces: a search from one "{{" stops at the next brace, so a text of unclosed
# "{{x:" costs a linear scan (with `.*?` it was quadratic: 8,000 of them took 2.6 s every message).
_MACRO = re.compile(r"\{\{\s*(//[^{}]*?|[\w-]+)\s*(?:::?([^{}]*?))?\s*\}\}")
_ANGLE = re.compile(r"<(user|bot|char)>", re.IGNORECASE)
_ANGLE_NAMES = {"user": "user", "bot": "char", "char": "char"}

# Values the prompt builder gives (system_prompt templates) on top of the ones computed here.
TEMPLATE_MACROS = frozenset({"description", "personality", "scenario", "rules"})
COMPUTED_MACROS = frozenset({"char", "user", "date", "time", "weekday", "idle_duration", "random"})


def expand(
    template: str,
    values: Mapping[str, str],
    *,
    now: datetime | None = None,
    idle_since: datetime | None = None,
    rng: random.Random | None = None,
) -> str:
    """Replace macros (names are case-insensitive); unknown macros are left as written.

    `values` gives {{char}}, {{user}} and any template values; {{date}}, {{time}} and {{weekday}} come
    from `now` (default: the local time), {{idle_duration}} is the time since `idle_since` (the
    conversation's last message), and {{random:a,b,c}} picks one (`\\,` is a literal comma).
    """
    if "{{" not in template and "<" not in template:
        return template  # the common case costs one scan
    lowered = {k.lower(): v for k, v in values.items()}
    pick = rng or random

    moment: list[datetime] = []

    def clock() -> datetime:  # read once, so {{date}} and {{time}} agree
        if not moment:
            moment.append(now or datetime.now().astimezone())
        return moment[0]

    computed: dict[str, Callable[[], str]] = {
        "date": lambda: f"{clock():%B} {clock().day}, {clock().year}",
        "time": lambda: f"{clock().hour % 12 or 12}:{clock():%M %p}",
        "weekday": lambda: f"{clock():%A}",
        "idle_duration": lambda: idle_duration(idle_since, clock()),
    }

    def replace(match: re.Match[str]) -> str:
        name, args = match.group(1).lower(), match.group(2)
        if name.startswith("//"):
            return ""  # {{// comment}}: for people reading the card
        if name == "random" and args is not None:
            return pick.choice(split_choices(args)) if args else ""
        if args is not None:
            return match.group(0)
        if name in lowered:
            return lowered[name]
        if name in computed:
            return computed[name]()
        return match.group(0)

    text = _MACRO.sub(replace, template)
    return _ANGLE.sub(lambda m: lowered.get(_ANGLE_NAMES[m.group(1).lower()], m.group(0)), text)


def split_choices(args: str) -> list[str]:
    """`a,b\\,c` → ["a", "b,c"]; `::a::b` (SillyTavern's other spelling) → ["a", "b"]."""
    if "::" in args:
        return [part.strip() for part in args.split("::")]
    parts = regex.split(r"(?<!\\),", args)
    return [part.replace("\\,", ",").strip() for part in parts]


def idle_duration(since: datetime | None, now: datetime) -> str:
    """How long since the last message, in words: "just now", "5 minutes", "3 hours", "2 days"."""
    if since is None:
        return "just now"
    if since.tzinfo is None:  # SQLite gives back naive UTC
        since = since.replace(tzinfo=UTC)
    seconds = max((now - since).total_seconds(), 0)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return "just now"


def unknown_macros(text: str, known: frozenset[str] = COMPUTED_MACROS) -> list[str]:
    """Macros in `text` that `expand` would leave as written, as written (for `anima card validate`)."""
    found: list[str] = []
    for match in _MACRO.finditer(text):
        name, args = match.group(1).lower(), match.group(2)
        if name.startswith("//") or (name == "random" and args is not None):
            continue
        if args is None and name in known:
            continue
        found.append(match.group(0))
    return found
