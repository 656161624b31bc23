"""An adapter's work in flight: its stop waits for what finishes within the bound and cancels the rest."""

from __future__ import annotations

import asyncio

from anima.core.in_flight import InFlight


async def test_stopping_waits_for_a_reply_that_finishes_within_the_bound() -> None:
    in_flight, started, may_finish, finished = InFlight("bot"), asyncio.Event(), asyncio.Event(), []

    async def reply() -> None:
        in_flight.track()
        started.set()
        await may_finish.wait()
        finished.append("reply")

    task = asyncio.create_task(reply())
    await started.wait()
    asyncio.get_running_loop().call_soon(may_finish.set)  # once stopping has begun to wait
    await in_flight.finish(within_s=30)
    assert finished == ["reply"] and not task.cancelled()


async def test_what_is_still_running_after_the_bound_is_cancelled() -> None:
    in_flight = InFlight("bot")
    stuck = asyncio.create_task(asyncio.Event().wait())
    in_flight.track(stuck)
    await in_flight.finish(within_s=0.01)
    await asyncio.gather(stuck, return_exceptions=True)
    assert stuck.cancelled()


async def test_work_already_done_is_not_waited_for() -> None:
    in_flight = InFlight("bot")
    done = asyncio.create_task(asyncio.sleep(0))
    in_flight.track(done)
    await done
    await asyncio.wait_for(in_flight.finish(within_s=30), timeout=1)  # returns at once
