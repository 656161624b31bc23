"""The platform-neutral core: message types, the pipeline, ordering, prompt and token budget.

Nothing here imports a platform library or a feature above the core (anima.bots, anima.soul,
anima.voice, the composition root anima.app); adapters in anima.bots translate to and from these
types. This package imports only `anima.core.messages`, the bottom of the core, so the LLM and
memory layers can use the message types without pulling in the prompt builder or the pipeline:
import the rest from its module (`anima.core.pipeline`, `anima.core.prompt`, …).
"""

from anima.core.messages import (
    Attachment,
    ChatMessage,
    ConversationKey,
    DiscardStream,
    HistoryRole,
    Incoming,
    Reply,
    ReplyStream,
    Role,
)

__all__ = [
    "Attachment",
    "ChatMessage",
    "ConversationKey",
    "DiscardStream",
    "HistoryRole",
    "Incoming",
    "Reply",
    "ReplyStream",
    "Role",
]
