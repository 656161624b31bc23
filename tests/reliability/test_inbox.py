"""The inbox stores each platform event once and lists the unanswered ones for a restart."""

from __future__ import annotations

from pathlib import Path

from anima.memory.inbox import Delivery, Inbox
from anima.memory.store import MemoryStore


def _delivery(number: int) -> Delivery:
    return Delivery("telegram", "42", str(number), f'{{"update_id": {number}}}')


async def test_a_second_delivery_of_the_same_event_is_not_claimed_again(tmp_path: Path) -> None:
    memory = await MemoryStore.open(f"sqlite:///{tmp_path / 'anima.db'}")
    inbox = Inbox(memory)
    try:
        assert await inbox.claim(_delivery(1))
        assert not await inbox.claim(_delivery(1))
    finally:
        await memory.close()


async def test_events_claimed_but_not_answered_survive_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'anima.db'}"
    memory = await MemoryStore.open(url)
    inbox = Inbox(memory)
    for number in (1, 2, 3):
        await inbox.claim(_delivery(number))
    await inbox.answered("telegram", "42", "2")
    await memory.close()

    reopened = await MemoryStore.open(url)
    try:
        pending = await Inbox(reopened).pending("telegram", "42")
        assert [item.delivery_id for item in pending] == ["1", "3"]
        assert pending[0].payload == '{"update_id": 1}'
    finally:
        await reopened.close()
