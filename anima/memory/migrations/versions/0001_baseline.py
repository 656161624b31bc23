"""Baseline: users, conversations (character × user × chat), messages and preferences."""

import sqlalchemy as sa
from alembic import op

from anima.memory.migrations.columns import key, moment, of, owned_by

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "users",
        key(),
        *of(sa.String, "platform platform_user_id display_name"),
        moment("created_at"),
        sa.UniqueConstraint("platform", "platform_user_id"),
    )
    op.create_table(
        "conversations",
        key(),
        *of(sa.String, "character_id"),
        owned_by("user_id", "users.id"),
        *of(sa.String, "platform chat_id"),
        *of(sa.Integer, "history_starts_after"),
        moment("created_at"),
        sa.UniqueConstraint("character_id", "user_id", "platform", "chat_id"),
    )
    op.create_table(
        "messages",
        key(),
        owned_by("conversation_id", "conversations.id"),
        *of(sa.String, "role content"),
        *of(sa.String, "platform_message_id", nullable=True),
        *of(sa.Boolean, "cut"),
        moment("created_at"),
    )
    op.create_index("ix_messages_conversation_id_id", "messages", ["conversation_id", "id"])
    op.create_table(
        "preferences",
        *(sa.Column(name, sa.String, primary_key=True) for name in ("platform", "chat_id", "user_id", "key")),
        *of(sa.String, "value"),
        moment("updated_at"),
    )


def downgrade() -> None:
    for table in ("preferences", "messages", "conversations", "users"):
        op.drop_table(table)
