"""The columns (and column drops) the migrations repeat, written once. A revision's schema must
never change, so what a helper here makes never changes either: a new kind of column is a new helper."""

from typing import Any

import sqlalchemy as sa
from alembic import op


def key(name: str = "id") -> sa.Column[Any]:
    return sa.Column(name, sa.Integer, primary_key=True)


def moment(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def owned_by(name: str, target: str, primary_key: bool = False) -> sa.Column[Any]:
    """A reference to `target` ("conversations.id"), deleted with the row it refers to."""
    reference = sa.ForeignKey(target, ondelete="CASCADE")
    if primary_key:
        return sa.Column(name, sa.Integer, reference, primary_key=True)
    return sa.Column(name, sa.Integer, reference, nullable=False)


def defaulted(name: str, kind: Any, default: Any) -> sa.Column[Any]:
    """A column never null: `default` in rows that do not say, and in those from before it was added."""
    return sa.Column(name, kind, nullable=False, server_default=default)


def of(kind: Any, names: str, nullable: bool = False) -> list[sa.Column[Any]]:
    """Plain columns of one type, in order (`names`: space-separated)."""
    return [sa.Column(name, kind, nullable=nullable) for name in names.split()]


def drop_columns(table: str, *names: str) -> None:
    """A downgrade's drop of columns, as a batch: SQLite copies the table to drop one."""
    with op.batch_alter_table(table) as batch:
        for name in names:
            batch.drop_column(name)
