"""Facts about the user from what they say, by rules: no LLM needed.

The embedded model (SmolLM2-135M) is far too weak to extract facts reliably, so common statements
are caught by patterns: the user's name, where they live (a move supersedes the old home), their
job, pets, likes and dislikes, birthday, and plans with a date. A stronger LLM adds free-form facts
in the background (anima.memory.keeper); both land in the same table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from anima.llm.json_answer import listed_objects, unit_fraction
from anima.memory.when import MONTHS, WEEKDAYS

# Topics that hold one value at a time: a new one supersedes the old.
SINGLE_VALUED = frozenset({"name", "home", "job", "birthday"})


@dataclass(frozen=True)
class FactCandidate:
    topic: str
    content: str  # a predicate about the user: "lives in Berlin"
    importance: float = 0.5
    happened_at: datetime | None = None


_END = (
    r"(?=\s*(?:[.,!?;:)\n]|\band\b|\bbut\b|\bbecause\b|\bso\b|\bwhich\b|\bwho\b|\bnow\b|\btoo\b"
    r"|\bthese days\b|\bat the moment\b|$))"
)
_NAME = r"([A-Z][\w'-]{0,30}(?:\s+[A-Z][\w'-]{0,30})?)"
_PLACE = r"([A-Z][\w'.-]*(?:[\s-]+(?:[A-Z][\w'.-]*|de|del|am|upon|on|sur))*)"
_THING = r"([^.,!?;:\n]{2,60}?)" + _END
_PET = r"(cat|dog|puppy|kitten|rabbit|bunny|hamster|parrot|bird|turtle|snake|fish|horse|guinea pig|ferret)"
_DATE = (
    r"((?:\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:"
    + "|".join(MONTHS)
    + r")\b|(?:"
    + "|".join(MONTHS)
    + r")\s+\d{1,2}(?:st|nd|rd|th)?\b)(?:,?\s*\d{4})?|\d{4}-\d{2}-\d{2}"
    r"|tomorrow|next\s+(?:week|month|" + "|".join(WEEKDAYS) + r")|(?:on\s+)?(?:" + "|".join(WEEKDAYS) + r"))"
)

_RULES: list[tuple[re.Pattern[str], str, float, str]] = [
    (re.compile(r"(?i:\bmy name(?:'s| is))\s+" + _NAME), "name", 1.0, "is called {0}"),
    (re.compile(r"(?i:\b(?:call me|i'm called|i am called))\s+" + _NAME), "name", 1.0, "is called {0}"),
    (re.compile(r"(?i:\bi(?:'ve| have)?\s+(?:just\s+)?moved to)\s+" + _PLACE), "home", 0.8, "lives in {0}"),
    (re.compile(r"(?i:\bi(?:'m| am)? (?:now )?living in)\s+" + _PLACE), "home", 0.8, "lives in {0}"),
    (re.compile(r"(?i:\bi live in)\s+" + _PLACE), "home", 0.8, "lives in {0}"),
    (re.compile(r"(?i:\bi(?:'m| am) from)\s+" + _PLACE), "origin", 0.6, "is from {0}"),
    (re.compile(r"\bi work as (?:an? )?" + _THING, re.I), "job", 0.7, "works as {0}"),
    (re.compile(r"\bi work (?:at|for)\s+" + _THING, re.I), "job", 0.7, "works at {0}"),
    (re.compile(r"\bmy job is (?:being )?(?:an? )?" + _THING, re.I), "job", 0.7, "works as {0}"),
    (
        re.compile(
            r"\bi (?:have|got|adopted) an? (?:new )?" + _PET + r"\s+(?:named|called)\s+" + _NAME, re.I
        ),
        "pet",
        0.7,
        "has a {0} named {1}",
    ),
    (
        re.compile(r"(?i:\bmy " + _PET + r"(?:'s name is| is called| named))\s+" + _NAME),
        "pet",
        0.7,
        "has a {0} named {1}",
    ),
    (re.compile(r"\bmy birthday is (?:on )?" + _DATE, re.I), "birthday", 0.8, "has a birthday on {0}"),
    (re.compile(r"\bi (?:really )?(?:love|like|enjoy|adore)\s+" + _THING, re.I), "likes", 0.5, "likes {0}"),
    (
        re.compile(r"\bi (?:hate|dislike|can't stand|don't like|do not like)\s+" + _THING, re.I),
        "dislikes",
        0.5,
        "dislikes {0}",
    ),
    (
        re.compile(r"\bi (?:have|'ve got|have got) (?:an? |my )?([\w' ]{2,40}?)\s+(?:on\s+)?" + _DATE, re.I),
        "plan",
        0.7,
        "has {0} on {1}",
    ),
    (re.compile(r"\bmy ([\w' ]{2,40}?) is (?:on )?" + _DATE, re.I), "plan", 0.7, "has {0} on {1}"),
    (
        re.compile(r"\bi(?:'m| am) going to ([\w' ]{2,40}?)\s+" + _DATE, re.I),
        "plan",
        0.7,
        "is going to {0} {1}",
    ),
    # Chinese
    (re.compile(r"(?:我叫|我的名字是|我的名字叫)([\u4e00-\u9fff\w]{1,8})"), "name", 1.0, "is called {0}"),
    (
        re.compile(r"我(?:已经)?搬到了?([\u4e00-\u9fff\w]{1,10}?)(?:了|[，。！,.!]|$)"),
        "home",
        0.8,
        "lives in {0}",
    ),
    (re.compile(r"我住在([\u4e00-\u9fff\w]{1,10}?)(?:了|[，。！,.!]|$)"), "home", 0.8, "lives in {0}"),
    (
        re.compile(r"我(?:很|非常|最)?喜欢([\u4e00-\u9fff\w]{1,12}?)(?:[，。！,.!]|$)"),
        "likes",
        0.5,
        "likes {0}",
    ),
]
_MY = re.compile(r"\bmy\b", re.I)
_SENTENCES = re.compile(r"(?<=[.!?。！？])\s*|\n+")
_CLAUSES = re.compile(r"\s*[,;，；、]\s*")
_ASKING = re.compile(
    r"\s*(?:what|how|where|who|whom|why|when|which|do|does|did|are|is|am|can|could|would|will|should|have|has)\b",
    re.I,
)
_NOT_LIKES = re.compile(r"^(?:to (?:say|ask|know|think)|it|that|this|you|him|her|them)\b", re.I)


def _statements(text: str) -> list[str]:
    """The sentences of `text` that state something: a question's leading clauses count
    ("I'm Lin, what about you?" states the name), its asking clause does not."""
    kept = []
    for sentence in _SENTENCES.split(text):
        if not sentence.strip():
            continue
        if not sentence.rstrip().endswith(("?", "？")):
            kept.append(sentence)
            continue
        clauses = _CLAUSES.split(sentence)[:-1]
        kept += [clause + "." for clause in clauses if clause.strip() and not _ASKING.match(clause)]
    return kept


def extract_facts(text: str, now: datetime) -> list[FactCandidate]:
    """Facts the user states about themself in `text` (in English or Chinese), at most one per topic."""
    found: dict[str, FactCandidate] = {}
    # A question states nothing, but the sentences around it may: "My name is Lin. What's yours?"
    text = " ".join(_statements(text[:2000]))
    for pattern, topic, importance, template in _RULES:
        if topic in found and topic in SINGLE_VALUED:
            continue
        match = pattern.search(text)
        if match is None:
            continue
        parts = [_MY.sub("their", part.strip(" '\".,!")) for part in match.groups()]
        if not all(parts) or (topic == "likes" and _NOT_LIKES.match(parts[0])):
            continue
        if topic == "plan" and "birthday" in found:
            continue
        when = None
        if topic in ("birthday", "plan"):
            when = date_of(parts[-1], now)
            if when is None:
                continue
            parts[-1] = f"{when:%Y-%m-%d}" if topic == "plan" else f"{when:%d %B}"
        found.setdefault(topic, FactCandidate(topic, template.format(*parts), importance, when))
    return list(found.values())


def date_of(phrase: str, now: datetime) -> datetime | None:
    """A date named in a plan ("12 May", "tomorrow", "next Friday"), on or after today."""
    text = phrase.lower().removeprefix("on ").strip()
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if text == "tomorrow":
        return today + timedelta(days=1)
    if text == "next week":
        return today + timedelta(days=7 - today.weekday())
    if text == "next month":
        return (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    day_name = text.removeprefix("next ").strip()
    if day_name in WEEKDAYS:
        ahead = (WEEKDAYS.index(day_name) - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead)
    if match := re.match(r"(\d{4})-(\d{2})-(\d{2})", text):
        return _safe_date(int(match[1]), int(match[2]), int(match[3]))
    numbers = re.findall(r"\d+", text)
    month = next((MONTHS[w] for w in re.findall(r"[a-z]+", text) if w in MONTHS), None)
    if month is None or not numbers:
        return None
    day = int(numbers[0])
    year = int(numbers[1]) if len(numbers) > 1 else today.year
    when = _safe_date(year, month, day)
    if when is not None and len(numbers) == 1 and when < today - timedelta(days=1):
        when = _safe_date(year + 1, month, day)  # "12 May" said in June means next May
    return when


def _safe_date(year: int, month: int, day: int) -> datetime | None:
    try:
        return datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None


def facts_from_llm(reply: str) -> list[FactCandidate]:
    """Facts from an LLM's JSON answer ({"facts": [{"topic", "fact", "importance", "date"}]});
    anything malformed is skipped: a weak model's JSON is often broken."""
    facts = []
    for item in listed_objects(reply, "facts"):
        if not isinstance(item.get("fact"), str) or not item["fact"].strip():
            continue
        topic = str(item.get("topic") or "").strip().lower()[:32]
        importance = unit_fraction(item.get("importance"))
        when = None
        if isinstance(item.get("date"), str):
            try:
                when = datetime.fromisoformat(item["date"]).replace(tzinfo=UTC)
            except ValueError:
                when = None
        facts.append(FactCandidate(topic, item["fact"].strip()[:300], importance, when))
    return facts
