"""The platform-neutral core: message types, the pipeline, ordering, prompt and token budget.

Nothing here imports a platform library; adapters in anima.bots translate to and from these types.
The pipeline and runtime live in `anima.core.pipeline` and `anima.core.runtime` (they import
memory and LLM code, which import these types).
"""

from anima.core.messages import Attachment, ConversationKey, DiscardStream, Incoming, Reply, ReplyStream
from anima.core.prompt import ChatMessage, Prompt, PromptBuilder, plan_budget

__all__ = [
    "Attachment",
    "ChatMessage",
    "ConversationKey",
    "DiscardStream",
    "Incoming",
    "Prompt",
    "PromptBuilder",
    "Reply",
    "ReplyStream",
    "plan_budget",
]
