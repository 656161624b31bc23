"""The bounded per-chat memory (webhooks, locks, arrivals): it never holds more than its bound."""

from __future__ import annotations

from anima.core.recent import Recent


def test_ten_thousand_chats_leave_only_the_bound_and_the_newest() -> None:
    webhooks: Recent[int, str] = Recent(max_items=100)
    for channel in range(10_000):
        webhooks[channel] = f"hook {channel}"

    assert len(webhooks) == 100
    assert next(iter(webhooks)) == 9_900 and webhooks[9_999] == "hook 9999"


def test_a_chat_set_again_is_kept_over_older_ones() -> None:
    locks: Recent[str, int] = Recent(max_items=2)
    locks["a"], locks["b"] = 1, 2
    locks["a"] = 3  # set again: now the newest
    locks["c"] = 4

    assert dict(locks) == {"a": 3, "c": 4}


def test_first_time_says_whether_an_id_was_seen_lately() -> None:
    seen: Recent[str, None] = Recent(max_items=2)

    assert [seen.first_time(i) for i in ("m1", "m1", "m2", "m3", "m1")] == [True, False, True, True, True]
