"""The platform-neutral core: message types, the pipeline, ordering, prompt and token budget.

Nothing here imports a platform library; adapters in anima.bots translate to and from these types.
"""

from anima.core.messages import Attachment, ConversationKey, DiscardStream, Incoming, Reply, ReplyStream
from anima.core.pipeline import Pipeline
from anima.core.prompt import ChatMessage, Prompt, PromptBuilder, plan_budget
from anima.core.runtime import Runtime

__all__ = [
    "Attachment",
    "ChatMessage",
    "ConversationKey",
    "DiscardStream",
    "Incoming",
    "Pipeline",
    "Prompt",
    "PromptBuilder",
    "Reply",
    "ReplyStream",
    "Runtime",
    "plan_budget",
]
