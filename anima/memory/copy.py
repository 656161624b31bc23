"""`anima memory copy --to URL`: every row of the memory database into another, empty one (e.g. PostgreSQL).

Both databases are migrated to the newest schema first, so the copy is table by table, parents
before children, in batches ordered by primary key. What each database derives by itself is not
copied but rebuilt as rows arrive: SQLite's FTS5 index (triggers) and PostgreSQL's tsvector column
(generated). PostgreSQL's id sequences are moved past the copied ids at the end, so new rows do
not collide with them. Run it with `anima run` stopped: rows written during the copy may be missed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from sqlalchemy import Connection, Select, Table, func, inspect, select, text
from sqlmodel import SQLModel

from anima.errors import AnimaError
from anima.memory import models  # noqa: F401  (registers every table in SQLModel.metadata)
from anima.memory.store import MemoryStore

BATCH = 2000


async def copy_database(
    source_url: str, target_url: str, progress: Callable[[str], None] = print
) -> dict[str, int]:
    """Copy every table; returns rows copied per table. The target must hold no rows yet."""
    source = await MemoryStore.open(source_url)
    try:
        target = await MemoryStore.open(target_url)
    except BaseException:
        await source.close()
        raise
    try:
        # Some tables are made on first use rather than by the migrations (the safety audit's):
        # copy the ones the source has, creating them in the target when missing.
        tables = [t for t in SQLModel.metadata.sorted_tables if await source.run(partial(_has, table=t))]
        for table in tables:
            await target.run(partial(table.create, checkfirst=True))
        filled = [t.name for t in tables if await target.run(partial(_count, table=t))]
        if filled:
            raise AnimaError(
                f"the target database already has rows in {', '.join(filled)}: copy into an empty one "
                "(a new database: `createdb anima`), so that no id is taken twice"
            )
        copied: dict[str, int] = {}
        for table in tables:
            copied[table.name] = await _copy_table(source, target, table)
            progress(f"{table.name}: {copied[table.name]} rows")
        if target.database.dialect == "postgresql":
            await target.run(_move_sequences)
    finally:
        await target.close()
        await source.close()
    return copied


def _read_rows(conn: Connection, query: Select[Any]) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in conn.execute(query)]


def _insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    conn.execute(table.insert(), rows)


async def _copy_table(source: MemoryStore, target: MemoryStore, table: Table) -> int:
    order = list(table.primary_key.columns)
    done = 0
    while True:
        query = select(table).order_by(*order).offset(done).limit(BATCH)
        rows = await source.run(partial(_read_rows, query=query))
        if not rows:
            return done
        await target.run(partial(_insert_rows, table=table, rows=rows))
        done += len(rows)


def _has(conn: Connection, table: Table) -> bool:
    return inspect(conn).has_table(table.name)


def _count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _move_sequences(conn: Connection) -> None:
    """Each serial id column's sequence continues after the largest copied id."""
    for table in SQLModel.metadata.sorted_tables:
        if not _has(conn, table):
            continue
        for column in table.primary_key.columns:
            sequence: Any = conn.execute(
                text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": table.name, "column": column.name},
            ).scalar()
            if sequence:
                largest = f'SELECT COALESCE(MAX("{column.name}"), 0) + 1 FROM "{table.name}"'
                conn.execute(text(f"SELECT setval(:sequence, ({largest}), false)"), {"sequence": sequence})
