"""Bring the memory schema up to date at start, with Alembic, inside the store's own transaction.

Start-up stays fast: when the database already is at HEAD (the usual case) one SELECT decides and
Alembic is not even imported. A database made before migrations existed (tables, no version) is
stamped as the baseline first.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

if TYPE_CHECKING:  # alembic loads only when a migration runs
    from alembic.runtime.migration import MigrationContext, RevisionStep

HEAD = "0009"  # the newest file in migrations/versions; a test checks the two agree
MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA_LOCK = 0x616E696D61  # "anima": the advisory lock held while a process changes the schema


def current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def schema_lock(conn: Connection) -> None:
    """Hold the schema lock until this transaction ends: several processes starting at once on one
    PostgreSQL then change the schema one at a time, and the later ones find it done."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})


def upgrade(conn: Connection) -> None:
    """Run every revision after the database's own, up to HEAD."""
    schema_lock(conn)
    revision = current_revision(conn)
    if revision == HEAD:
        return
    from alembic.config import Config
    from alembic.runtime.environment import EnvironmentContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    if revision is None and inspect(conn).has_table("messages"):
        revision = "0001"  # made by create_all before there were migrations
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('0001')"))

    def steps(rev: str, _context: MigrationContext) -> list[RevisionStep]:
        return script._upgrade_revs(HEAD, rev)

    with EnvironmentContext(config, script, fn=steps, destination_rev=HEAD) as environment:
        environment.configure(connection=conn, transactional_ddl=True)
        with environment.begin_transaction():
            environment.run_migrations()


def head_in_scripts() -> str:
    """HEAD as Alembic sees it in migrations/versions (for the test that keeps HEAD honest)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head() or ""
