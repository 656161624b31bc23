"""Conversation locks across processes on one PostgreSQL (anima/memory/locks.py): two AdvisoryLocks
play two processes; each holds conversations it takes at once on one session, and waits in line for
one the other holds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from anima.memory.locks import AdvisoryLocks
from tests.memory.conftest import PostgresCluster


@pytest.fixture
async def url(postgres: PostgresCluster) -> str:
    return postgres.url(postgres.create_database())


@pytest.fixture
async def two(url: str) -> AsyncIterator[tuple[AdvisoryLocks, AdvisoryLocks]]:
    a, b = AdvisoryLocks(url), AdvisoryLocks(url)
    yield a, b
    await a.close()
    await b.close()


async def advisory_sessions(url: str) -> dict[int, int]:
    """Granted advisory locks by the backend pid holding them."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT pid, count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted GROUP BY pid"
                )
            )
            return {int(pid): int(count) for pid, count in rows}
    finally:
        await engine.dispose()


async def until_waiting(url: str, n: int) -> None:
    """Until `n` sessions wait in line for an advisory lock (the server's view, polled)."""
    engine = create_async_engine(url)
    query = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    try:
        async with engine.connect() as conn:
            for _ in range(500):  # the server tells no one when a session starts waiting: ask, 10 s at most
                if (await conn.execute(query)).scalar() == n:
                    return
                await asyncio.sleep(0.02)
    finally:
        await engine.dispose()
    raise AssertionError(f"{n} sessions never waited for an advisory lock")


async def test_many_conversations_held_at_once_share_one_session(
    two: tuple[AdvisoryLocks, AdvisoryLocks], url: str
) -> None:
    a, _ = two
    entered = asyncio.Event()
    release = asyncio.Event()
    held = 0

    async def turn(name: str) -> None:
        nonlocal held
        async with a.hold(name):
            held += 1
            if held == 50:
                entered.set()
            await release.wait()

    turns = [asyncio.create_task(turn(f"chat-{i}")) for i in range(50)]
    await asyncio.wait_for(entered.wait(), 30)
    assert list((await advisory_sessions(url)).values()) == [50]  # 50 locks, one connection
    release.set()
    await asyncio.gather(*turns)
    assert await advisory_sessions(url) == {}


async def test_a_conversation_the_other_process_holds_waits_and_turns_keep_their_order(
    two: tuple[AdvisoryLocks, AdvisoryLocks], url: str
) -> None:
    a, b = two
    order: list[str] = []
    a_holds, a_goes_on = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with a.hold("chat"):
            order.append("a1")
            a_holds.set()
            await a_goes_on.wait()

    async def then(locks: AdvisoryLocks, name: str) -> None:
        async with locks.hold("chat"):
            order.append(name)

    holding = asyncio.create_task(first())
    await a_holds.wait()
    b_waits = asyncio.create_task(then(b, "b1"))
    await until_waiting(url, 1)  # b waits in line while a holds the lock
    assert order == ["a1"] and not b_waits.done()
    a_goes_on.set()
    await holding
    await asyncio.wait_for(b_waits, 10)
    await asyncio.wait_for(then(a, "a2"), 10)
    assert order == ["a1", "b1", "a2"]


async def test_an_ask_that_could_take_the_lock_at_once_waits_behind_those_in_line(
    two: tuple[AdvisoryLocks, AdvisoryLocks], url: str
) -> None:
    """b waits in line for a's lock; a's next turn is behind b, though a's session could take it."""
    a, b = two
    order: list[str] = []
    a_holds, a_goes_on = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with a.hold("chat"):
            order.append("a1")
            a_holds.set()
            await a_goes_on.wait()

    async def then(locks: AdvisoryLocks, name: str) -> None:
        async with locks.hold("chat"):
            order.append(name)

    c = AdvisoryLocks(url)
    try:
        held = asyncio.create_task(holder())
        await a_holds.wait()
        waiting = asyncio.create_task(then(b, "b"))
        await until_waiting(url, 1)
        third = asyncio.create_task(then(c, "c"))  # its try fails: b is in line, so c waits too
        await until_waiting(url, 2)
        a_goes_on.set()
        await asyncio.wait_for(asyncio.gather(held, waiting, third), 10)
    finally:
        await c.close()
    assert order == ["a1", "b", "c"]


async def test_a_turn_cancelled_while_holding_gives_the_lock_back(
    two: tuple[AdvisoryLocks, AdvisoryLocks], url: str
) -> None:
    a, b = two
    holds = asyncio.Event()

    async def turn() -> None:
        async with a.hold("chat"):
            holds.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(turn())
    await holds.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(10), b.hold("chat"):
        pass
    assert await advisory_sessions(url) == {}


async def test_a_turn_cancelled_while_asking_leaves_no_lock_behind(
    two: tuple[AdvisoryLocks, AdvisoryLocks], url: str
) -> None:
    a, b = two
    for _ in range(20):  # cancelled at each moment of the ask: before, during, after the answer
        task = asyncio.create_task(a.hold("chat").__aenter__())
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0.2)  # a lock granted to a cancelled ask is given back on its own task
    async with asyncio.timeout(10), b.hold("chat"):
        pass


async def test_the_holding_session_ended_by_the_server_is_replaced(
    two: tuple[AdvisoryLocks, AdvisoryLocks], url: str, postgres: PostgresCluster
) -> None:
    a, _ = two
    async with a.hold("chat"):
        (pid,) = await advisory_sessions(url)
    postgres.psql(f"SELECT pg_terminate_backend({pid})")
    async with (
        asyncio.timeout(10),
        a.hold("chat"),
    ):  # the first ask meets the dead session, then waits in line
        pass
    async with asyncio.timeout(10), a.hold("chat"):  # and a new holder takes the next at once
        assert len(await advisory_sessions(url)) == 1
