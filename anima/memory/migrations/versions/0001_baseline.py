"""Baseline: users, conversations (character × user × chat), messages and preferences.

Revision ID: 0001
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _moment(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("platform", sa.String, nullable=False),
        sa.Column("platform_user_id", sa.String, nullable=False),
        sa.Column("display_name", sa.String, nullable=False),
        _moment("created_at"),
        sa.UniqueConstraint("platform", "platform_user_id"),
    )
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("character_id", sa.String, nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("platform", sa.String, nullable=False),
        sa.Column("chat_id", sa.String, nullable=False),
        sa.Column("history_starts_after", sa.Integer, nullable=False),
        _moment("created_at"),
        sa.UniqueConstraint("character_id", "user_id", "platform", "chat_id"),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "conversation_id",
            sa.Integer,
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("role", sa.String, nullable=False),
        sa.Column("content", sa.String, nullable=False),
        sa.Column("platform_message_id", sa.String, nullable=True),
        sa.Column("cut", sa.Boolean, nullable=False),
        _moment("created_at"),
    )
    op.create_index("ix_messages_conversation_id_id", "messages", ["conversation_id", "id"])
    op.create_table(
        "preferences",
        sa.Column("platform", sa.String, primary_key=True),
        sa.Column("chat_id", sa.String, primary_key=True),
        sa.Column("user_id", sa.String, primary_key=True),
        sa.Column("key", sa.String, primary_key=True),
        sa.Column("value", sa.String, nullable=False),
        _moment("updated_at"),
    )


def downgrade() -> None:
    for table in ("preferences", "messages", "conversations", "users"):
        op.drop_table(table)
