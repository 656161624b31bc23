"""Pictures people sent: a reference and a small thumbnail with the message (images.retention_days)."""

import sqlalchemy as sa
from alembic import op

from anima.memory.migrations.columns import key, moment, of, owned_by

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "pictures",
        key(),
        owned_by("conversation_id", "conversations.id"),
        owned_by("message_id", "messages.id"),
        *of(sa.String, "reference sha256"),
        *of(sa.Integer, "width height"),
        *of(sa.LargeBinary, "thumbnail"),
        moment("created_at"),
    )
    op.create_index("ix_pictures_message_id", "pictures", ["message_id"])
    op.create_index("ix_pictures_created_at", "pictures", ["created_at"])


def downgrade() -> None:
    op.drop_table("pictures")
