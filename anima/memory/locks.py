"""Conversation locks shared by every process on one PostgreSQL: session-level advisory locks.

An advisory lock is held by a database session: when the process dies its sessions end and
PostgreSQL drops their locks, with nothing to clean up (over a network, once TCP notices the dead
peer: keep `tcp_keepalives_idle` short on the server).

A process keeps one session, the holder, for the locks it can take at once
(`pg_try_advisory_lock`): that is nearly every turn, since each conversation is mostly answered by
one process (a Discord shard's, the worker a load balancer sent the chat to), so a process holds
any number of conversations on one connection, two round trips a turn (lock, unlock). A lock that
another process holds, or that another process is already waiting for, is waited for in line
(`pg_advisory_lock`) on a connection of its own, kept for the turn: PostgreSQL grants a lock's
waiters in the order they asked and a try never jumps that queue, so turns of one conversation run
one at a time, in the order the processes asked for them.

Locks use connections of their own, never the store's: a turn holding a lock still needs the
store's pool for its reads and writes. They run in autocommit, so a held lock never keeps a
transaction open. A pooled connection whose socket the server closed is replaced at checkout, which
asks the socket, not the server (no ping before each use).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from anima.errors import MemoryStoreError
from anima.memory.database import closed_by_the_server

log = logging.getLogger(__name__)

WAITING_CONNECTIONS = 32  # turns one process may have waiting in line for another process's lock
_LOCK = text("SELECT pg_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")
_TRY_LOCK_SQL = "SELECT pg_try_advisory_lock($1)"
_UNLOCK_SQL = "SELECT pg_advisory_unlock($1)"


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for a lock name (a collision only makes two conversations take turns)."""
    digest = hashlib.blake2b(f"anima.conversation:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLocks:
    """`SharedLocks` on PostgreSQL (see anima.core.ordering). `hold` of one name is not re-entrant:
    the in-process lock in front of it (ConversationLocks) asks for a conversation once at a time."""

    def __init__(self, url: str, connections: int = WAITING_CONNECTIONS) -> None:
        self._engine = create_async_engine(
            url,
            pool_size=connections + 1,  # the holder's, and those waiting in line
            max_overflow=0,
            pool_timeout=3600,  # a turn waits for a free lock connection, never fails for lack of one
            isolation_level="AUTOCOMMIT",
        )
        event.listen(self._engine.sync_engine, "checkout", closed_by_the_server)
        self._holder: _Holder | None = None
        self._opening = asyncio.Lock()

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        key = lock_key(name)
        holder = await self._taken_at_once(key)
        if holder is not None:
            try:
                yield
            finally:
                await holder.unlock(key)
            return
        conn = await self._locked(key)
        try:
            yield
        finally:
            await _unlock(conn, key)

    @asynccontextmanager
    async def hold_many(self, names: Sequence[str]) -> AsyncIterator[None]:
        """Several locks on one connection (forgetting a person holds all of their conversations,
        which may be more than the pool has connections), taken in one order; ending the session
        releases them all at once."""
        keys = sorted({lock_key(name) for name in names})
        if not keys:
            yield
            return
        conn = await self._locked(*keys)
        try:
            yield
        finally:
            await _discard(conn)

    async def _taken_at_once(self, key: int) -> _Holder | None:
        """The holder, when it took the lock without waiting; None: wait in line for it."""
        holder = self._holder
        if holder is None or holder.broken:
            async with self._opening:
                if self._holder is None or self._holder.broken:
                    try:
                        self._holder = _Holder(await self._engine.connect())
                    except SQLAlchemyError as exc:
                        log.warning("no connection to hold conversation locks on: %s", exc)
                        return None  # waiting in line says what is wrong, or finds it mended
                holder = self._holder
        return holder if await holder.try_lock(key) else None

    async def _locked(self, *keys: int) -> AsyncConnection:
        """A connection holding every lock of `keys`, taken in that order, waiting for each."""
        try:
            conn = await self._engine.connect()
        except SQLAlchemyError as exc:
            raise MemoryStoreError(f"cannot take a conversation lock: {exc}") from exc
        try:
            for key in keys:
                await conn.execute(_LOCK, {"key": key})
        except BaseException as exc:
            # Cancelled or failed while waiting: the lock may have been granted anyway, so the
            # session goes rather than back to the pool (ending it drops whatever it holds).
            await _discard(conn)
            if isinstance(exc, SQLAlchemyError):
                raise MemoryStoreError(f"cannot take a conversation lock: {exc}") from exc
            raise
        return conn

    async def close(self) -> None:
        if self._holder is not None:
            await self._holder.close()
        await self._engine.dispose()


class _Holder:
    """One session holding many conversations' locks; its statements run one at a time. Each runs to
    its end even when the turn asking is cancelled, so whether a lock was granted is always known
    (and a lock granted to a turn that went away is given back). When the session fails, it is
    closed, which drops every lock it held; the turns holding them finish unguarded, and the next
    turn opens a new holder."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._turn = asyncio.Lock()
        self._driver: Any = None  # asyncpg's connection, fetched on first use
        self._running: set[asyncio.Task[Any]] = set()
        self.broken = False

    async def try_lock(self, key: int) -> bool:
        task = self._run(_TRY_LOCK_SQL, key)
        try:
            return bool(await asyncio.shield(task))
        except asyncio.CancelledError:
            task.add_done_callback(lambda done: self._give_back_if_granted(done, key))
            raise
        except MemoryStoreError:  # logged; this turn waits in line instead
            return False

    async def unlock(self, key: int) -> None:
        if self.broken:
            return  # the session went, and its locks with it
        try:
            await asyncio.shield(self._run(_UNLOCK_SQL, key))
        except MemoryStoreError:
            pass  # logged; closing the session released the lock

    def _give_back_if_granted(self, task: asyncio.Task[Any], key: int) -> None:
        if not task.cancelled() and task.exception() is None and task.result():
            self._run(_UNLOCK_SQL, key)

    def _run(self, sql: str, key: int) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(self._statement(sql, key))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    async def _statement(self, sql: str, key: int) -> Any:
        async with self._turn:
            if self.broken:
                raise MemoryStoreError("the lock holder's session has ended")
            try:
                if self._driver is None:
                    self._driver = (await self._conn.get_raw_connection()).driver_connection
                return await self._driver.fetchval(sql, key)
            except Exception as exc:
                self.broken = True
                log.warning("the session holding conversation locks failed, so it is closed: %r", exc)
                await _discard(self._conn)
                raise MemoryStoreError(f"conversation lock: {exc}") from exc

    async def close(self) -> None:
        await asyncio.gather(*self._running, return_exceptions=True)
        if not self.broken:
            self.broken = True
            await _discard(self._conn)


async def _unlock(conn: AsyncConnection, key: int) -> None:
    try:
        await conn.execute(_UNLOCK, {"key": key})
    except BaseException as exc:
        await _discard(conn)  # ending the session releases the lock
        if isinstance(exc, SQLAlchemyError):
            log.warning("releasing a conversation lock failed, its connection was closed: %s", exc)
            return
        raise
    await conn.close()


async def _discard(conn: AsyncConnection) -> None:
    try:
        await conn.invalidate()
        await conn.close()
    except Exception as exc:  # the session is gone either way
        log.debug("closing a lock connection failed: %r", exc)
