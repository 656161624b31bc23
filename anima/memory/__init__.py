"""Memory: what each character keeps about each user, in SQLite or PostgreSQL."""

from anima.memory.store import ConversationState, MemoryStore, MemoryView, StoredMessage

__all__ = ["ConversationState", "MemoryStore", "MemoryView", "StoredMessage"]
