"""Where SQL runs: one function, one transaction, off the event loop.

SQLite goes through the stdlib driver on one dedicated writer thread: a transaction then costs one
thread hop (measured ~0.4 ms for BEGIN IMMEDIATE + INSERT + COMMIT) instead of one hop per DBAPI
call through aiosqlite (~1.2-1.4 ms), and SQLite allows one writer at a time anyway. Other
databases (PostgreSQL) use SQLAlchemy's async engine. Both run the same synchronous SQL functions.

SQLite durability: WAL with synchronous=NORMAL keeps every committed transaction across a process
crash (kill -9); only an OS crash or power loss can roll back the last commits, a trade taken for
~7x more commits per second than FULL. Write transactions start with BEGIN IMMEDIATE so they wait
on busy_timeout instead of failing with "database is locked" when a read later needs to write;
reads (`read`) start with a plain BEGIN on a connection and thread of their own (WAL lets readers
run beside the writer), so that neither another process holding the write lock nor this one's
queued writes (a message being stored, background memory work) hold up recall.
`transaction(work, wait_s=…)` waits less than busy_timeout for the lock (the store's message
writes and their retries), and once a transaction found the lock held, the next ones fail at once
until one goes through: a database locked by another process for a minute costs a reply at most
one short wait, not 5 s per queued write.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import ClauseElement, Connection, Engine, Executable, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.compiler import SQLCompiler

from anima.errors import MemoryStoreError

T = TypeVar("T")
BUSY_TIMEOUT_MS = 5000
LOCKED = {"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_BUSY_SNAPSHOT", "SQLITE_BUSY_RECOVERY"}
CONNECT_TIMEOUT_S = 10  # PostgreSQL: a connection attempt to an unreachable server gives up after this


class PreparedRead:
    """A read statement built once at import, run through SQLAlchemy on PostgreSQL and straight on
    the sqlite3 cursor on SQLite: SQLAlchemy's execution (its context, result and row objects) cost
    more than SQLite's own work for recall's small reads, ~0.2 ms a statement. Results are the
    same (column types processed as SQLAlchemy would); an expanding parameter (`bindparam(...,
    expanding=True)`) must be given a non-empty list."""

    def __init__(self, statement: Executable) -> None:  # a select() or a text()
        self.statement = statement
        self._sqlite: tuple[str, tuple[str, ...], dict[str, Any], list[Any]] | None = None

    def rows(self, conn: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        if conn.dialect.name != "sqlite":
            return [tuple(row) for row in conn.execute(self.statement, params)]
        sql, names, defaults, processors = self._sqlite or self._compile(conn)
        values: list[Any] = []
        for name in names:
            value = params[name] if name in params else defaults[name]
            marker = f"__[POSTCOMPILE_{name}]"
            if marker in sql:  # an expanding list: one placeholder per item
                if not value:
                    raise ValueError(f"{name}: an expanding parameter needs at least one value")
                sql = sql.replace(marker, ", ".join("?" * len(value)), 1)
                values += value
            else:
                values.append(value)
        dbapi = conn.connection.driver_connection
        assert dbapi is not None
        found: list[tuple[Any, ...]] = dbapi.execute(sql, values).fetchall()
        if not any(processors):
            return found
        return [
            tuple(v if process is None else process(v) for v, process in zip(row, processors, strict=True))
            for row in found
        ]

    def _compile(self, conn: Connection) -> tuple[str, tuple[str, ...], dict[str, Any], list[Any]]:
        assert isinstance(self.statement, ClauseElement)
        compiled = self.statement.compile(dialect=conn.dialect)
        assert isinstance(compiled, SQLCompiler)  # a statement's compiler: it has the positions
        columns = getattr(self.statement, "selected_columns", ())  # a text() has no typed columns
        processors = [
            column.type.dialect_impl(conn.dialect).result_processor(conn.dialect, None) for column in columns
        ]
        self._sqlite = (compiled.string, tuple(compiled.positiontup or ()), dict(compiled.params), processors)
        return self._sqlite


class Database(Protocol):
    dialect: str

    async def transaction(self, work: Callable[[Connection], T], wait_s: float | None = None) -> T:
        """Run `work(connection)` inside one committed transaction; `wait_s` bounds the wait for
        SQLite's write lock (default: busy_timeout)."""
        ...

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Run `work(connection)`, which only reads, in a transaction that takes no write lock."""
        ...

    async def close(self) -> None: ...


def _sqlite_read_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # a plain BEGIN is emitted by SqliteDatabase's reader
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA query_only=ON")  # a read that tried to write would fail, not take the lock
    cursor.close()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see SqliteDatabase._begin)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA wal_autocheckpoint=0")  # see SqliteDatabase: checkpoints run beside commits
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class SqliteDatabase:
    """SQLite on one writer thread and one reader thread, with WAL checkpoints moved off the commit path.

    Reads run on a connection of their own (a file database: an in-memory one exists only on its one
    connection, so there they queue on the writer's): a recall then waits neither for the writes queued
    before it nor for another process's write lock, and sees what was committed when it starts.

        By default SQLite checkpoints inside whichever commit crosses 1000 WAL pages, which makes
        that one message 5-50 ms slower. Here commits never checkpoint; a second connection on its
        own thread runs a PASSIVE checkpoint (which does not block writers) every few hundred commits.
    """

    dialect = "sqlite"
    CHECKPOINT_EVERY = 200

    def __init__(self, path: str) -> None:
        self._memory = path == ":memory:"
        if not self._memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._checkpoint_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-checkpoint")
        self._checkpointing: asyncio.Future[None] | None = None
        self._commits = 0
        self._path = path
        # One connection, used only from the writer thread.
        self._engine = create_engine(
            f"sqlite:///{path}", poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
        self._reading = False  # set on the writer thread while a `read` runs (an in-memory database)
        self._reader: ThreadPoolExecutor | None = None
        self._read_engine: Engine | None = None
        if not self._memory:
            self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-reader")
            self._read_engine = create_engine(
                f"sqlite:///{path}", poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
            event.listen(self._read_engine, "connect", _sqlite_read_pragmas)
            event.listen(self._read_engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        self._locked_out = False  # the last write with a short wait found the lock held (writer thread)
        self._dbapi: sqlite3.Connection | None = None
        event.listen(self._engine, "connect", self._connected)
        event.listen(self._engine, "begin", self._begin)

    def _connected(self, dbapi_connection: sqlite3.Connection, record: Any) -> None:
        _sqlite_pragmas(dbapi_connection, record)
        self._dbapi = dbapi_connection

    def _begin(self, conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN" if self._reading else "BEGIN IMMEDIATE")

    async def transaction(self, work: Callable[[Connection], T], wait_s: float | None = None) -> T:
        def run() -> T:
            # Once a transaction found the lock held for its whole wait, later ones do not wait at
            # all until one goes through: queued one after another on this thread, each would
            # otherwise add its wait to every reply behind it.
            wait_ms = 0 if self._locked_out else None if wait_s is None else int(wait_s * 1000)
            with self._engine.connect() as conn:  # the pool's one connection: _dbapi is set now
                assert self._dbapi is not None
                if wait_ms is not None:
                    self._dbapi.execute(f"PRAGMA busy_timeout={wait_ms}")
                try:
                    with conn.begin():
                        result = work(conn)
                except OperationalError as exc:
                    self._locked_out = getattr(exc.orig, "sqlite_errorname", "") in LOCKED
                    raise
                finally:
                    if wait_ms is not None:
                        self._dbapi.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._locked_out = False
            return result

        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._thread, run)
        self._commits += 1
        if self._commits % self.CHECKPOINT_EVERY == 0 and not self._memory:
            if self._checkpointing is None or self._checkpointing.done():
                self._checkpointing = loop.run_in_executor(self._checkpoint_thread, self._checkpoint)
        return result

    async def read(self, work: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        engine = self._read_engine
        if engine is not None and self._reader is not None:

            def read() -> T:
                with engine.begin() as conn:
                    return work(conn)

            return await loop.run_in_executor(self._reader, read)

        def run() -> T:
            self._reading = True
            try:
                with self._engine.begin() as conn:
                    return work(conn)
            finally:
                self._reading = False

        return await loop.run_in_executor(self._thread, run)

    def _checkpoint(self) -> None:
        with sqlite3.connect(self._path, timeout=BUSY_TIMEOUT_MS / 1000) as db:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        db.close()

    async def close(self) -> None:
        if self._checkpointing is not None:
            await self._checkpointing
        loop = asyncio.get_running_loop()
        if self._read_engine is not None and self._reader is not None:
            await loop.run_in_executor(self._reader, self._read_engine.dispose)
            self._reader.shutdown(wait=True)
        await loop.run_in_executor(self._thread, self._engine.dispose)
        self._thread.shutdown(wait=True)
        self._checkpoint_thread.shutdown(wait=True)


# The store's connections per process on PostgreSQL (besides the conversation locks'): a turn holds
# one for a statement or a transaction, and in a burst a connection stays out while the event loop
# serves other turns, so turns queue for one. They wait their turn rather than fail: SQLAlchemy's
# 30 s left messages of a 200-message burst unanswered on a loaded machine (pool timeout).
POOL_SIZE, POOL_OVERFLOW, POOL_WAIT_S = 5, 10, 300


class AsyncDatabase:
    """PostgreSQL (asyncpg). A recall is one read with no transaction around it: BEGIN, COMMIT and
    SQLAlchemy's pre-ping (itself BEGIN, `;`, ROLLBACK on asyncpg) were 5 of its 8-9 round trips,
    each a wait for the scheduler on a loaded machine. A pooled connection whose socket the server
    closed (a restart, pg_terminate_backend) is discarded at checkout, which asks the socket, not the
    server; a read that still meets a connection lost under it is run once more on a fresh one."""

    def __init__(self, url: str) -> None:
        connect_args = {"timeout": CONNECT_TIMEOUT_S} if make_url(url).get_driver_name() == "asyncpg" else {}
        self._engine = create_async_engine(
            url,
            connect_args=connect_args,
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
            pool_timeout=POOL_WAIT_S,
        )
        event.listen(self._engine.sync_engine, "checkout", closed_by_the_server)
        # each statement sees what is committed when it runs: a recall reads, and a memory written
        # between two of its statements is at worst shown one reply later
        self._reads = self._engine.execution_options(isolation_level="AUTOCOMMIT")
        self.dialect = self._engine.dialect.name

    async def transaction(self, work: Callable[[Connection], T], wait_s: float | None = None) -> T:
        async with self._engine.begin() as conn:
            return await conn.run_sync(work)

    async def read(self, work: Callable[[Connection], T]) -> T:
        for attempt in range(2):
            try:
                async with self._reads.connect() as conn:
                    return await conn.run_sync(work)
            except DBAPIError as exc:
                if not exc.connection_invalidated or attempt:
                    raise
        raise AssertionError("unreachable")  # the loop returns or raises

    async def close(self) -> None:
        await self._engine.dispose()


def closed_by_the_server(_dbapi: Any, record: Any, _proxy: Any) -> None:
    """A pooled connection whose socket is closed is replaced (the pool retries the checkout)."""
    driver = record.driver_connection
    if driver is not None and driver.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


SUPPORTED = "sqlite+aiosqlite:///path/to/anima.db or postgresql+asyncpg://user@host/anima"


def shown_url(url: str) -> str:
    """A database URL fit to print or log: its password masked (`***`)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number, a broken [IPv6]
        return "<a database URL that cannot be parsed>"


def database_url_problem(url: str) -> str | None:
    """Why `url` cannot be Anima's memory database (its password masked), or None: SQLite or
    PostgreSQL through asyncpg. Start and `anima config check` ask this before anything opens."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return f"{shown_url(url)}: not a database URL; expected {SUPPORTED}"
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return None
    if backend != "postgresql":
        return f"{shown_url(url)}: {backend} is not supported for memory; expected {SUPPORTED}"
    if parsed.get_driver_name() != "asyncpg":
        return f"{shown_url(url)}: write postgresql+asyncpg:// (the driver Anima uses)"
    return None


def open_database(url: str) -> Database:
    """The database behind `url`: SQLite or PostgreSQL; anything else is a MemoryStoreError."""
    if problem := database_url_problem(url):
        raise MemoryStoreError(problem)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return SqliteDatabase(parsed.database or ":memory:")
    return AsyncDatabase(url)
