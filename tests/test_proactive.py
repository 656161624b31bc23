"""When a character may write first (anima.core.proactive.decide): the rules alone, on a given clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from anima.characters.card import CardProactive
from anima.core.proactive import decide
from anima.memory.proactive import Activity, ProactiveKey, Scheduled

CARD = CardProactive(enabled=True, after_idle="6h", max_per_day=2, quiet_hours="22:00-08:00")
ON = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
KEY = ProactiveKey("telegram", "1", "101", "101", "aiko")


def chat(last_sent_at: datetime | None = None, sent_day: str = "", sent_today: int = 0) -> Scheduled:
    return Scheduled(1, KEY, "private", "", ON, last_sent_at, sent_day, sent_today)


def heard(at: datetime | None, user_at: datetime | None = None) -> Activity:
    return Activity(at, user_at or at, "Alice")


def test_it_writes_once_the_chat_was_quiet_for_after_idle() -> None:
    said = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    assert not decide(chat(), CARD, heard(said), said + timedelta(hours=5), UTC).send
    assert decide(chat(), CARD, heard(said), said + timedelta(hours=6), UTC).send


def test_quiet_hours_that_cross_midnight_hold_it_until_they_end() -> None:
    said = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)
    late = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)
    decision = decide(chat(), CARD, heard(said), late, UTC)
    assert not decision.send and decision.next_at == datetime(2026, 6, 2, 8, 0, tzinfo=UTC)


def test_quiet_hours_are_the_persons_own_time() -> None:
    said = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
    noon_utc = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)  # 23:00 in Tokyo
    assert decide(chat(), CARD, heard(said), noon_utc, UTC).send
    assert not decide(chat(), CARD, heard(said), noon_utc, ZoneInfo("Asia/Tokyo")).send


def test_never_twice_in_a_row_without_an_answer() -> None:
    said = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    sent = said + timedelta(hours=6)
    later = sent + timedelta(hours=6, minutes=30)
    assert not decide(chat(sent, "2026-06-01", 1), CARD, Activity(sent, said, "Alice"), later, UTC).send
    answered = Activity(sent + timedelta(minutes=1), sent + timedelta(minutes=1), "Alice")
    assert decide(chat(sent, "2026-06-01", 1), CARD, answered, later, UTC).send


def test_the_daily_cap_holds_until_the_next_local_day() -> None:
    said = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    now = datetime(2026, 6, 1, 18, 0, tzinfo=UTC)
    capped = decide(chat(said, "2026-06-01", 2), CARD, heard(said + timedelta(minutes=5)), now, UTC)
    assert not capped.send and capped.next_at == datetime(2026, 6, 2, 0, 0, tzinfo=UTC)


def test_a_card_that_does_not_allow_it_never_writes() -> None:
    said = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    off = CARD.model_copy(update={"enabled": False})
    assert not decide(chat(), off, heard(said), said + timedelta(days=3), UTC).send


@pytest.mark.parametrize("written", ["6 hours", "0s", "400d", "6H"])
def test_after_idle_is_refused_when_not_a_duration(written: str) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        CardProactive(after_idle=written)


def test_quiet_hours_are_refused_when_not_a_clock_range() -> None:
    with pytest.raises(ValueError, match="quiet hours"):
        CardProactive(quiet_hours="22-8")
