"""Conversation locks shared by every process on one PostgreSQL: session-level advisory locks.

`pg_advisory_lock` is held by a database session, so a connection is kept for the whole turn; when
the process dies its sessions end and PostgreSQL drops their locks, with nothing to clean up (over
a network, once TCP notices the dead peer: keep `tcp_keepalives_idle` short on the server).
PostgreSQL grants a lock's waiters in the order they asked, so turns of one conversation run one
at a time, in the order the processes asked for them.

These connections come from a pool of their own: a turn holding a lock still needs the store's
pool for its reads and writes, and sharing one pool could leave every connection parked on a lock.
The connections run in autocommit, so a held lock never keeps a transaction open.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from anima.errors import MemoryStoreError

log = logging.getLogger(__name__)

LOCK_CONNECTIONS = 32  # conversations one process may have in a turn at once; more wait for a connection
_LOCK = text("SELECT pg_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for a lock name (a collision only makes two conversations take turns)."""
    digest = hashlib.blake2b(f"anima.conversation:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLocks:
    """`SharedLocks` on PostgreSQL (see anima.core.ordering)."""

    def __init__(self, url: str, connections: int = LOCK_CONNECTIONS) -> None:
        self._engine = create_async_engine(
            url,
            pool_size=connections,
            max_overflow=0,
            pool_timeout=3600,  # a turn waits for a free lock connection, never fails for lack of one
            pool_pre_ping=True,
            isolation_level="AUTOCOMMIT",
        )

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        key = lock_key(name)
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

    async def _locked(self, *keys: int) -> AsyncConnection:
        """A connection holding every lock of `keys`, taken in that order."""
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
        await self._engine.dispose()


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
