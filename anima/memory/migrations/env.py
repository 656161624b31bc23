"""Alembic's entry point, for authoring revisions: `alembic -c anima/memory/alembic.ini revision -m "…"`.

At run time Anima does not go through this file: anima.memory.migrate runs the revisions on the
store's own connection (see there).
"""

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import anima.memory.models  # noqa: F401  (registers the tables)

url = context.config.get_main_option("sqlalchemy.url") or "sqlite:///data/anima.db"
with create_engine(url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")).begin() as connection:
    context.configure(connection=connection, target_metadata=SQLModel.metadata)
    with context.begin_transaction():
        context.run_migrations()
