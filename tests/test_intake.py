"""The durable intake (anima/core/intake.py): a library's event queue that claims each event in the
inbox before it is queued, drops a redelivery at the door and queues again, at start, what was
claimed and never answered. The event here is a plain dict; Telegram's is an Update."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from anima.app import Runtime
from anima.core.conversations import Conversations
from anima.core.intake import ClaimingQueue
from anima.errors import MemoryStoreError
from anima.memory.inbox import Delivery


class Refused(Exception):
    """Stands for the library's own error: it delivers the event again."""


class Events(ClaimingQueue[dict[str, Any]]):
    def __init__(self, conversations: Conversations) -> None:
        super().__init__(conversations, "test", dict)
        self.bot_id = "bot"

    def event_id(self, event: dict[str, Any]) -> str:
        return str(event["id"])

    def to_json(self, event: dict[str, Any]) -> dict[str, Any]:
        return event

    def from_json(self, data: dict[str, Any]) -> dict[str, Any]:
        return data

    def not_stored(self, delivery: Delivery, exc: MemoryStoreError) -> Exception:
        return Refused(delivery.delivery_id)


async def test_an_event_is_stored_before_it_is_queued_and_a_redelivery_is_dropped(runtime: Runtime) -> None:
    queue = Events(runtime.conversations)
    await queue.put({"id": 1, "text": "hi"})
    await queue.put({"id": 1, "text": "hi"})  # the library delivered it again
    await queue.put("shutdown")  # not an event: passes as it is
    assert [queue.get_nowait(), queue.get_nowait()] == [{"id": 1, "text": "hi"}, "shutdown"]
    assert queue.empty()
    assert [d.delivery_id for d in await runtime.conversations.inbox.pending("test", "bot")] == ["1"]


async def test_what_was_stored_and_never_answered_is_queued_again_at_start(runtime: Runtime) -> None:
    before = Events(runtime.conversations)
    await before.put({"id": 7, "text": "first"})
    await before.put({"id": 8, "text": "second"})
    await runtime.conversations.answered(before.delivery({"id": 8, "text": "second"}))
    restarted = Events(runtime.conversations)  # a new process, after a crash
    assert await restarted.replay() == ["7"]
    assert restarted.get_nowait() == {"id": 7, "text": "first"} and restarted.empty()


async def test_an_event_the_inbox_cannot_store_raises_the_librarys_error(runtime: Runtime) -> None:
    queue = Events(runtime.conversations)
    await runtime.memory.run(lambda conn: conn.execute(text("DROP TABLE inbox")))
    with pytest.raises(Refused, match="3"):
        await queue.put({"id": 3})
    assert queue.empty()
