"""Time words in a message ("last weekend", "yesterday", "8 May", "上周") as a window of dates.

Recall uses the window to pull what was said then, even when no word of the question matches it:
"what did I do last weekend?" shares no word with "went hiking with Mia".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MONTHS = {
    name: i
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH})\b\.?,?\s*(\d{{4}})?", re.I)
_MONTH_DAY = re.compile(rf"\b({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b,?\s*(\d{{4}})?", re.I)
_MONTH_YEAR = re.compile(rf"\b(?:in\s+)?({_MONTH})\s+(\d{{4}})\b", re.I)
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_AGO = re.compile(r"\b(\d+|a|an|one|two|three|four|five|six)\s+(day|week|month|year)s?\s+ago\b", re.I)
_WEEKDAY = re.compile(r"\b(last|on|this past)\s+(" + "|".join(WEEKDAYS) + r")\b", re.I)
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_CN: dict[str, tuple[int | str, int]] = {
    "前天": (-2, 1),
    "昨天": (-1, 1),
    "今天": (0, 1),
    "上周": ("week", -1),
    "上个月": ("month", -1),
}


@dataclass(frozen=True)
class Window:
    """[start, end) in UTC."""

    start: datetime
    end: datetime

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def _day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _days(start: datetime, days: int) -> Window:
    return Window(start, start + timedelta(days=days))


def _month(year: int, month: int) -> Window:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return Window(start, end)


def _date(year: int, month: int, day: int) -> Window | None:
    try:
        return _days(datetime(year, month, day, tzinfo=UTC), 1)
    except ValueError:
        return None


def time_window(message: str, now: datetime) -> Window | None:
    """The first time expression in `message`, resolved against `now`; None when there is none."""
    text = message.lower()
    today = _day(now.astimezone(UTC))
    monday = today - timedelta(days=today.weekday())
    if "day before yesterday" in text:
        return _days(today - timedelta(days=2), 1)
    if "yesterday" in text or "last night" in text:
        return _days(today - timedelta(days=1), 1)
    if "today" in text or "this morning" in text or "tonight" in text:
        return _days(today, 1)
    if "last weekend" in text or "past weekend" in text:
        return _days(monday - timedelta(days=2), 2)
    if "this weekend" in text:
        return _days(monday + timedelta(days=5), 2)
    if "last week" in text or "past week" in text:
        return _days(monday - timedelta(days=7), 7)
    if "this week" in text:
        return _days(monday, 7)
    if "last month" in text or "past month" in text:
        first = today.replace(day=1) - timedelta(days=1)
        return _month(first.year, first.month)
    if "last year" in text:
        return Window(datetime(today.year - 1, 1, 1, tzinfo=UTC), datetime(today.year, 1, 1, tzinfo=UTC))
    for word, (offset, span) in _CN.items():
        if word in message:
            if offset == "week":
                return _days(monday - timedelta(days=7), 7)
            if offset == "month":
                first = today.replace(day=1) - timedelta(days=1)
                return _month(first.year, first.month)
            return _days(today + timedelta(days=int(offset)), int(span))
    if match := _AGO.search(text):
        n = _NUMBERS.get(match.group(1), None) or int(match.group(1))
        unit = {"day": 1, "week": 7, "month": 30, "year": 365}[match.group(2)]
        centre = today - timedelta(days=n * unit)
        slack = max(1, unit // 7)
        return Window(centre - timedelta(days=slack), centre + timedelta(days=slack + 1))
    if match := _WEEKDAY.search(text):
        back = (today.weekday() - WEEKDAYS.index(match.group(2))) % 7 or 7
        return _days(today - timedelta(days=back), 1)
    if match := _ISO.search(text):
        return _date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    for pattern, day_group, month_group in ((_DAY_MONTH, 1, 2), (_MONTH_DAY, 2, 1)):
        if match := pattern.search(text):
            year = int(match.group(3)) if match.group(3) else today.year
            window = _date(year, MONTHS[match.group(month_group)], int(match.group(day_group)))
            if window and not match.group(3) and window.start > today:
                window = _date(year - 1, MONTHS[match.group(month_group)], int(match.group(day_group)))
            if window:
                return window
    if match := _MONTH_YEAR.search(text):
        return _month(int(match.group(2)), MONTHS[match.group(1)])
    return None
