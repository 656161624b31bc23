"""Text no database takes as it is: a NUL or a lone surrogate in a message or a name is stored (as U+FFFD) and
answered on SQLite and PostgreSQL, and never holds up the messages after it."""

from __future__ import annotations

from anima.app import Runtime
from anima.core.messages import Incoming


async def test_nul_and_lone_surrogates_are_stored_and_answered(any_runtime: Runtime) -> None:
    reply = await any_runtime.pipeline.handle(
        Incoming("telegram", "1", "1", "Li\x00n\udc80", "hello\x00 there \ud800")
    )
    assert reply is not None and not reply.failed
    after = await any_runtime.pipeline.handle(Incoming("telegram", "1", "1", "Lin", "and now?"))
    assert after is not None
    assert any_runtime.memory.unsaved_count() == 0  # nothing waits for a write that cannot succeed
    data = await any_runtime.memory.export_user("telegram", "1")
    assert data is not None
    said = [m["text"] for m in data["conversations"][0]["messages"] if m["role"] == "user"]
    assert said == ["hello\ufffd there \ufffd", "and now?"]
